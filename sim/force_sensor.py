"""The plunger force sensor: a load cell behind an HX711 24-bit bridge amplifier.

The HX711 converts continuously at 10 or 80 samples/s; between conversions the latest
result is all there is (sample and hold). Each result is a 24-bit two's-complement
count, offset + counts_per_n x force plus noise, clipped to the converter's range
(-2^23 .. 2^23 - 1), so a broken bridge or an overload pins the reading at a rail.

Example: with the boards' 4200 counts/N, a plunger force of 37.3 N (500 mmHg in a BD
Plastipak 50 mL) reads about 156,700 counts, give or take a few tens of counts of noise::

    sensor = ForceSensor(lambda: plant.force_n, samples_per_s=10, counts_per_n=4200, seed=1)
    before = sensor.sample_count
    raw = sensor.read(t_s)            # latest conversion at or before t_s
    if sensor.sample_count != before: # a new conversion arrived (feed it to the HAL)
        ...
    sensor.inject_fault("silent")     # or "stuck", "out_of_range"; clear_fault() undoes it

The force comes from a callable (normally the plant's force_n), read when a conversion
completes; the sensor holds no reference to the plant itself.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

from sim.plant import PLANT_CALIBRATION_PATH

COUNTS_MIN = -(1 << 23)
COUNTS_MAX = (1 << 23) - 1
SAMPLE_RATES_PER_S = (10, 80)
FAULTS = ("silent", "stuck", "out_of_range")


def noise_counts_sd(samples_per_s: int, path: Path = PLANT_CALIBRATION_PATH) -> float:
    """Illustrative noise of the HX711 at this output rate, from the plant calibration file."""
    return float(json.loads(Path(path).read_text())["force_sensor"]["noise_counts_sd"][str(samples_per_s)])


def force_n_from_counts(counts: int, counts_per_n: float, offset_counts: int = 0) -> float:
    """What a host-side reader makes of a raw count (the inverse of the sensor's gain)."""
    return (counts - offset_counts) / counts_per_n


class ForceSensor:
    """Sample-and-hold HX711 reading a force source at its conversion instants."""

    def __init__(
        self,
        force_source: Callable[[], float],
        samples_per_s: int = 10,
        counts_per_n: float = 4200.0,
        offset_counts: int = 0,
        noise_sd_counts: float | None = None,
        seed: int | None = 0,
        first_sample_s: float = 0.0,
    ) -> None:
        if samples_per_s not in SAMPLE_RATES_PER_S:
            raise ValueError(f"HX711 rate {samples_per_s} samples/s is not one it has; use 10 or 80 (the RATE pin).")
        if not counts_per_n > 0:
            raise ValueError(f"counts_per_n is {counts_per_n}; the load-cell gain must be > 0 (see the board's force calibration).")
        self._source = force_source
        self.samples_per_s = samples_per_s
        self.counts_per_n = float(counts_per_n)
        self.offset_counts = int(offset_counts)
        self.noise_sd_counts = noise_counts_sd(samples_per_s) if noise_sd_counts is None else float(noise_sd_counts)
        self._rng = random.Random(seed)
        self._period_s = 1.0 / samples_per_s
        self._first_sample_s = first_sample_s
        self._last_index = -1  # index of the latest conversion taken
        self.sample_count = 0
        self.last_sample_t_s: float | None = None
        self._held_counts = self.offset_counts
        self.fault: str | None = None
        self._fault_counts = 0

    def inject_fault(self, kind: str, counts: int | None = None) -> None:
        """silent: no new conversions; stuck: conversions continue but repeat one value
        (counts, or the last reading); out_of_range: readings pinned at a rail (counts sets
        which: negative for the lower rail, default the upper one)."""
        if kind not in FAULTS:
            raise ValueError(f"Force sensor fault {kind!r} is unknown; use one of {', '.join(FAULTS)}.")
        self.fault = kind
        if kind == "stuck":
            self._fault_counts = self._held_counts if counts is None else _clip(int(counts))
        elif kind == "out_of_range":
            self._fault_counts = COUNTS_MIN if counts is not None and counts < 0 else COUNTS_MAX

    def clear_fault(self) -> None:
        self.fault = None

    def read(self, t_s: float) -> int:
        """The latest raw count (signed, within the 24-bit range) converted at or before t_s.

        Conversions between two reads are counted in sample_count; only the latest is kept,
        taken with the force the source gives now (the plant moves once per control tick).
        """
        index = math.floor((t_s - self._first_sample_s) * self.samples_per_s + 1e-9)
        if index <= self._last_index or index < 0:
            return self._held_counts
        if self.fault == "silent":
            self._last_index = index  # conversions that never happened
            return self._held_counts
        self.sample_count += index - self._last_index
        self._last_index = index
        self.last_sample_t_s = self._first_sample_s + index * self._period_s
        self._held_counts = self._convert()
        return self._held_counts

    def _convert(self) -> int:
        if self.fault in ("stuck", "out_of_range"):
            return self._fault_counts
        counts = self.offset_counts + self.counts_per_n * self._source()
        if self.noise_sd_counts > 0:
            counts += self._rng.gauss(0.0, self.noise_sd_counts)
        return _clip(round(counts))


def _clip(counts: int) -> int:
    return COUNTS_MIN if counts < COUNTS_MIN else COUNTS_MAX if counts > COUNTS_MAX else counts
