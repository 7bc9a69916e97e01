"""The bedside monitor: when vital signs are measured, and what the monitor reports.

A ketamine clinic monitors the patient throughout the session: an oscillometric cuff
(NIBP) inflates every few minutes, and a reading takes about 30 s, so the blood pressure
shown at 10:05:30 is the one measured over the half minute before. Heart rate (ECG) and
SpO2 (pulse oximeter) are continuous and refresh every few seconds. Readings are whole
numbers, as on a real screen.

Example: with the default 5 min cycle starting at t = 0, cuff readings are reported at
30 s, 330 s, 630 s, ...; HR and SpO2 at 5, 10, 15 s, ...::

    monitor = VitalsMonitor(patient, rng=np.random.default_rng(7))
    patient.advance(1.0, rate_ug_min=875.0)
    for reading in monitor.due_readings(60.0):
        print(reading.time_s, reading.kind, reading.values)   # 30.0 nibp {...}, ...

Values come from the patient's state when due_readings is called. A runner that wants
each reading taken from the state at its own time advances the patient to
next_due_s() before calling due_readings.

What the monitor tells the pump (`vitals_reports`) is one `VITALS` report per reading time,
each reading in it once: HR and SpO2 every few seconds, a cuff reading with its number
(`bp_id`) only when the cuff has made a new one, never the last cuff value again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.patient import Vitals

NIBP = "nibp"
HR = "hr"
SPO2 = "spo2"
_KIND_ORDER = {NIBP: 0, HR: 1, SPO2: 2}


class MonitoredPatient(Protocol):
    """What the monitor needs from a patient."""

    def vitals(self, rng: np.random.Generator | None = None) -> Vitals: ...


@dataclass(frozen=True)
class Reading:
    """One reported measurement: time_s is when the monitor shows it."""

    time_s: float
    kind: str
    values: dict[str, int]
    number: int = 0  # a cuff reading's own number on this monitor (1, 2, ...; 0 for HR and SpO2)


class VitalsMonitor:
    """Produces cuff and continuous readings on the monitor's own cadence."""

    def __init__(self, patient: MonitoredPatient, rng: np.random.Generator | int,
                 cuff_interval_min: float | None = 5.0, cuff_duration_s: float = 30.0,
                 continuous_interval_s: float = 5.0, first_cuff_s: float = 0.0) -> None:
        _check_positive("continuous_interval_s", continuous_interval_s, "e.g. 1-10 s")
        _check_at_least_zero("cuff_duration_s", cuff_duration_s, "about 30 s")
        _check_at_least_zero("first_cuff_s", first_cuff_s, "seconds from the start")
        if cuff_interval_min is not None:
            _check_positive("cuff_interval_min", cuff_interval_min, "1-60 min; None = manual only")
            if cuff_interval_min * 60.0 <= cuff_duration_s:
                raise ValueError(
                    f"Vitals monitor: cuff_interval_min {cuff_interval_min} is not longer than "
                    f"one reading ({cuff_duration_s} s). Choose an interval of at least "
                    f"{math.ceil(cuff_duration_s / 60.0 + 1e-9)} min."
                )
        self.patient = patient
        self.rng = np.random.default_rng(rng)
        self._cuff_interval_min = cuff_interval_min
        self.cuff_duration_s = float(cuff_duration_s)
        self.continuous_interval_s = float(continuous_interval_s)
        self._last_t_s = 0.0
        self._continuous_count = 1
        # Automatic cuff starts are anchor + k x interval; a manual reading moves the anchor.
        self._cuff_anchor_s = float(first_cuff_s) if cuff_interval_min is not None else None
        self._cuff_count = 0
        self._manual_cuff_s: float | None = None
        self._pending: list[Reading] = []
        self._cuff_readings_made = 0

    def connect(self, t_s: float) -> None:
        """The monitor is put on the patient at t_s (a later session): continuous readings from
        the next interval, the cuff cycle (or nothing, if manual only) from now; nothing from
        the time in between."""
        if t_s < self._last_t_s:
            raise ValueError(f"Vitals monitor: connect at {t_s} s is earlier than the previous call at {self._last_t_s} s.")
        self._last_t_s = float(t_s)
        self._pending = []
        self._manual_cuff_s = None
        self._continuous_count = math.floor(t_s / self.continuous_interval_s) + 1
        if self._cuff_interval_min is not None:
            self._cuff_anchor_s = float(t_s)
            self._cuff_count = 0

    @property
    def cuff_interval_min(self) -> float | None:
        """Automatic cuff cycle (None: manual readings only)."""
        return self._cuff_interval_min

    def request_nibp(self, t_s: float) -> None:
        """Start a cuff reading now (a clinician re-checking a high value).

        The automatic cycle restarts from this reading. Ignored while a reading is running.
        """
        # Readings already due are kept for the next due_readings call.
        self._pending.extend(self._collect(t_s))
        if self._cuff_running(t_s):
            return
        self._manual_cuff_s = float(t_s)
        if self._cuff_interval_min is not None:
            self._cuff_anchor_s = float(t_s)
            self._cuff_count = 1

    def next_due_s(self) -> float:
        """Time of the next reading the monitor will report."""
        return min(self._next_continuous_s(), self._next_cuff_end_s())

    def due_readings(self, t_s: float) -> list[Reading]:
        """Readings reported after the previous call, up to and including t_s, in time order."""
        readings = self._pending + self._collect(t_s)
        self._pending = []
        readings.sort(key=lambda r: (r.time_s, _KIND_ORDER[r.kind]))
        return readings

    def _collect(self, t_s: float) -> list[Reading]:
        if t_s < self._last_t_s:
            raise ValueError(
                f"Vitals monitor: time {t_s} s is earlier than the previous call at "
                f"{self._last_t_s} s; call with non-decreasing times."
            )
        self._last_t_s = float(t_s)
        return self._cuff_readings(t_s) + self._continuous_readings(t_s)

    # -- cuff --------------------------------------------------------------------------
    def _next_cuff_start_s(self) -> float:
        if self._manual_cuff_s is not None:
            return self._manual_cuff_s
        if self._cuff_anchor_s is None or self._cuff_interval_min is None:
            return math.inf
        return self._cuff_anchor_s + self._cuff_count * self._cuff_interval_min * 60.0

    def _next_cuff_end_s(self) -> float:
        return self._next_cuff_start_s() + self.cuff_duration_s

    def _cuff_running(self, t_s: float) -> bool:
        start_s = self._next_cuff_start_s()
        return start_s <= t_s < start_s + self.cuff_duration_s

    def _cuff_readings(self, t_s: float) -> list[Reading]:
        readings = []
        while self._next_cuff_end_s() <= t_s:
            end_s = self._next_cuff_end_s()
            if self._manual_cuff_s is not None:
                self._manual_cuff_s = None
            else:
                self._cuff_count += 1
            v = self.patient.vitals(self.rng)
            self._cuff_readings_made += 1
            readings.append(Reading(end_s, NIBP, {"sbp_mmhg": round(v.sbp_mmhg), "dbp_mmhg": round(v.dbp_mmhg)},
                                    number=self._cuff_readings_made))
        return readings

    # -- continuous --------------------------------------------------------------------
    def _next_continuous_s(self) -> float:
        return self._continuous_count * self.continuous_interval_s

    def _continuous_readings(self, t_s: float) -> list[Reading]:
        readings = []
        while self._next_continuous_s() <= t_s:
            time_s = self._next_continuous_s()
            self._continuous_count += 1
            v = self.patient.vitals(self.rng)
            readings.append(Reading(time_s, HR, {"hr_bpm": round(v.hr_bpm)}))
            readings.append(Reading(time_s, SPO2, {"spo2_pct": round(v.spo2_pct)}))
        return readings


def vitals_reports(readings: list[Reading]) -> list[dict[str, int]]:
    """The pump's `VITALS` reports (docs/protocol.md) for these readings: one per reading time,
    in time order; a cuff reading goes with its `bp_id` (its number, 1..65535) in the report of
    its own time only."""
    by_time: dict[float, dict[str, int]] = {}
    for r in readings:
        report = by_time.setdefault(r.time_s, {})
        if r.kind == NIBP:
            report.update(sbp=r.values["sbp_mmhg"], dbp=r.values["dbp_mmhg"], bp_id=(r.number - 1) % 65535 + 1)
        elif r.kind == HR:
            report["hr"] = r.values["hr_bpm"]
        else:
            report["spo2"] = r.values["spo2_pct"]
    return [by_time[t] for t in sorted(by_time)]


def _check_positive(name: str, value: float, typical: str) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"Vitals monitor: {name} is {value}; it must be > 0 ({typical}).")


def _check_at_least_zero(name: str, value: float, typical: str) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"Vitals monitor: {name} is {value}; it must be >= 0 ({typical}).")
