"""The simulator's syringe, line and load cell in the shape the engine's board process drives.

The board process (sim/board.py) steps the firmware and calls `advance(dt_ms, position)` each
tick, then reads `force_raw`, `samples` and `switches` for the next frame. This adapter holds one
`sim.plant.Plant` (a purged syringe on a line to a vein) and its HX711, and exposes what a
bench has: the mass on a balance under the line's outlet, and hands that can close the line,
pull the syringe out or load another one.
"""

from __future__ import annotations

from firmware.board import Board
from sim import priming
from firmware.hal.simbus import SWITCH_END_STOP, SWITCH_PLUNGER, SWITCH_SYRINGE
from sim.force_sensor import ForceSensor
from sim.plant import DriveTrain, Plant

WATER_DENSITY_G_ML = 0.998  # the balance weighs what reaches it (IEC 60601-2-24 uses water at 20 C)


class BoardPlant:
    def __init__(self, syringe: str = "bd_plastipak_50", fill_ml: float | None = 50.0, board: str = "VIRTUAL",
                 seed: int = 1, prime_ml: float = 0.2, t_ms: int = 0) -> None:
        self.board = Board.load(board)
        self.drive = DriveTrain.from_board(board)
        self.seed = seed
        self.prime_ml = prime_ml
        self.t_ms = t_ms
        self.position = 0  # the drive's STEP-line position as the board reports it
        self._collected_ul = 0.0  # reached the outlet from syringes loaded before this one
        self._pushed_before_ul = 0.0
        self.load_syringe(syringe, fill_ml)

    def load_syringe(self, syringe: str, fill_ml: float | None, seed: int | None = None) -> None:
        """Put a new, purged syringe in (what was delivered so far stays on the balance).
        fill_ml None fills it to capacity; `seed` draws another syringe of the make."""
        if hasattr(self, "plant"):
            self._collected_ul += self.plant.delivered_ul - self._waste_ul
            self._pushed_before_ul += self.plant.pushed_ul - self._waste_pushed_ul
        if seed is not None:
            self.seed = seed
        self.syringe_id = syringe
        t0_s = self.t_ms / 1000.0 - priming.DURATION_S
        from sim.syringe import load_syringe

        spec = load_syringe(syringe)
        fill_ul = spec.capacity_ul if fill_ml is None else min(fill_ml * 1000.0, spec.capacity_ul)
        self.plant = Plant(spec, drive=self.drive, fill_ul=fill_ul, seed=self.seed, t0_s=t0_s)
        prime_steps = priming.prime(self.plant, self.prime_ml * 1000.0, t0_s)
        self._waste_ul = self.plant.delivered_ul
        self._waste_pushed_ul = self.plant.pushed_ul
        self._zero = self.position - prime_steps
        f = self.board.force
        self.sensor = ForceSensor(lambda: self.plant.force_n, samples_per_s=f["samples_per_s"],
                                  counts_per_n=f["counts_per_n"], offset_counts=f["offset_counts"],
                                  seed=self.seed + 50, first_sample_s=self.t_ms / 1000.0)
        self._read()

    def advance(self, dt_ms: int, position: int) -> None:
        self.t_ms += dt_ms
        self.position = position
        self.plant.advance(self.t_ms / 1000.0, position - self._zero)
        self._read()

    def _read(self) -> None:
        p = self.plant
        self.force_raw = self.sensor.read(self.t_ms / 1000.0)
        self.samples = self.sensor.sample_count
        self.switches = ((SWITCH_SYRINGE if p.syringe_present else 0) | (SWITCH_PLUNGER if p.plunger_engaged else 0)
                         | (SWITCH_END_STOP if p.at_end_stop else 0))

    def idle(self, dt_ms: int) -> None:
        """Time passes with the syringe set aside (days between sessions): nothing is simulated."""
        self.t_ms += dt_ms

    def rebase(self, position: int) -> None:
        """The board restarted and counts from `position` again; the plunger has not moved."""
        self._zero += position - self.position
        self.position = position

    @property
    def delivered_ml(self) -> float:
        """Volume that left the line (into the vein, or onto the bench balance)."""
        return (self._collected_ul + self.plant.delivered_ul - self._waste_ul) / 1000.0

    @property
    def pushed_ml(self) -> float:
        """Volume the plunger has pushed (after the purge), over all syringes."""
        return (self._pushed_before_ul + self.plant.pushed_ul - self._waste_pushed_ul) / 1000.0

    @property
    def syringe_delivered_ml(self) -> float:
        """What left the line from the syringe loaded now."""
        return (self.plant.delivered_ul - self._waste_ul) / 1000.0

    def mass_g(self) -> float:
        return self.delivered_ml * WATER_DENSITY_G_ML

    @property
    def pressure_mmhg(self) -> float:
        return self.plant.pressure_mmhg
