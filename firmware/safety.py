"""What the control loop supervises while the plunger is meant to advance.

One `Safety` per controller. `arm()` turns the program, the syringe and the pressure level
into raw thresholds (load-cell counts, microsteps) once, at start; `check()` then runs every
tick without allocating and returns the first alarm it finds, or 0. The order is the order of
severity a nurse would want: the syringe gone or the plunger loose (free flow) first, then the
sensor that the other checks rely on, then occlusion, then the drive.
"""

from firmware import alarms, dosing, pressure
from firmware.interlocks import ForceHealth, OcclusionDetector, RateGuard, StepSupervisor


class Safety:
    def __init__(self, limits: dict, board) -> None:
        self.limits = limits
        self.board = board
        self._offset = board.force["offset_counts"]
        self._counts_per_n = board.force["counts_per_n"]
        fs = limits["force_sensor"]
        self.force = ForceHealth(fs["silent_ms"], fs["stuck_samples"],
                                 pressure.counts_for_mn(board.force["max_force_mn"], self._counts_per_n))
        self.occlusion = OcclusionDetector()
        d = limits["drive"]
        self.steps = StepSupervisor(d["stall_steps"], d["stall_ms"])
        self.rate = RateGuard(d["rate_window_ms"])
        self.inner_diameter_um = 0
        self.max_backoff_steps = 0
        self._last_samples = -1

    def arm(self, program, level_mmhg: int, max_steps_per_tick: int) -> None:
        """Thresholds for this program's syringe, the chosen pressure level and the most steps
        a tick may command."""
        self.inner_diameter_um = program.inner_diameter_um
        self.rate.configure(max_steps_per_tick, self.board.tick_ms)
        t = self.limits["occlusion_trend"]
        rise_mn = pressure.force_mn(t["rise_mmhg"], program.inner_diameter_um)
        if rise_mn < t["rise_min_mn"]:
            rise_mn = t["rise_min_mn"]
        self.occlusion.configure(
            threshold_counts=self._counts(pressure.force_mn(level_mmhg, program.inner_diameter_um)),
            trend_counts=self._counts(rise_mn),
            onset_counts=self._counts(t["onset_mn"]),
            confirm_ms=t["confirm_ms"], arm_after_ms=t["arm_after_ms"],
            window_ms=t["window_ms"], bucket_ms=t["bucket_ms"],
        )
        self.max_backoff_steps = dosing.total_steps((t["max_backoff_ul"] * 1000, 1), program.inner_diameter_um, self.board.drive)

    def set_level(self, level_mmhg: int) -> None:
        if self.inner_diameter_um:
            self.occlusion.threshold_counts = self._counts(pressure.force_mn(level_mmhg, self.inner_diameter_um))

    def _counts(self, force_mn: int) -> int:
        return pressure.counts_for_mn(force_mn, self._counts_per_n)

    def restart(self) -> None:
        self.occlusion.restart()
        self.force.restart()
        self.steps.restart()
        self.rate.restart()
        self._last_samples = -1

    def not_ready(self, hal) -> str:
        """Why the pump may not start now ('' when it may)."""
        sw = hal.switches
        if not sw.syringe_present():
            return "syringe_present"
        if not sw.plunger_engaged():
            return "plunger_engaged"
        if sw.at_end_stop():
            return "end_stop"
        return ""

    def check(self, dt_ms: int, hal, commanded: int, counted: int) -> int:
        """One tick while running. Allocation-free."""
        sw = hal.switches
        if not sw.syringe_present():
            return alarms.SYRINGE_REMOVED
        if not sw.plunger_engaged():
            return alarms.PLUNGER_DISENGAGED
        if sw.at_end_stop():
            return alarms.SYRINGE_EMPTY
        samples = hal.force.samples()
        raw = hal.force.raw()
        code = self.force.update(dt_ms, samples, raw, self._offset)
        if code:
            return code
        if samples != self._last_samples:
            self._last_samples = samples
            code = self.occlusion.update(dt_ms, raw - self._offset, counted)
            if code:
                return code
        code = self.steps.update(dt_ms, commanded, counted)
        if code:
            return code  # steps never commanded are the generator's fault, named as such
        return self.rate.update(dt_ms, counted)

    def backoff_steps(self, counted: int) -> int:
        """How far to pull back after an occlusion: what went into the line since the rise began."""
        n = counted - self.occlusion.onset_count
        if n < 0:
            n = 0
        return n if n < self.max_backoff_steps else self.max_backoff_steps

    def pressure_mmhg(self, raw: int) -> int:
        if not self.inner_diameter_um:
            return 0
        return pressure.pressure_mmhg((raw - self._offset) * 1000 // self._counts_per_n, self.inner_diameter_um)
