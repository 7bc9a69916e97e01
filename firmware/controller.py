"""The pump controller: a state machine driven by `tick(now_ms)` from the main loop.

    idle -> programmed (or awaiting_confirmation for a soft-limit entry -> programmed)
         -> running <-> paused -> complete
    any state -> alarm (latched; motor disabled) -> acknowledged -> paused / idle / complete

Operator commands (program, confirm, start, pause, resume, stop, acknowledge) are methods that
either change state or raise `Rejected` and change nothing. `tick()` runs the motion plan and
the supervision; it touches hardware only through the HAL given to the constructor and it
allocates nothing, so a board's loop can run it for hours without a garbage collection pause.
"""

from firmware import alarms, dosing, events, prescription
from firmware.compat import const
from firmware.datafile import data_path, load_json
from firmware.errors import BAD_STATE, BAD_VALUE, CONFIRMATION_MISMATCH, Rejected
from firmware.motion import MotionPlan

IDLE = const(0)
PROGRAMMED = const(1)
AWAITING_CONFIRMATION = const(2)
RUNNING = const(3)
PAUSED = const(4)
COMPLETE = const(5)
ALARM = const(6)

STATE_NAMES = ("idle", "programmed", "awaiting_confirmation", "running", "paused", "complete", "alarm")

# The independent counter may run at most this many steps past the total before the dose
# interlock latches an alarm (one step can be in flight when the generator is halted).
_OVERRUN_TOLERANCE_STEPS = const(1)


class Controller:
    def __init__(self, hal, board, library, syringes, limits=None) -> None:
        self.hal = hal
        self.limits = limits if limits is not None else load_json(data_path("alarm_limits.json"))
        self.occlusion_level = self.limits["occlusion_default"]
        self.vitals = {}  # latest reported: sbp, dbp, hr, spo2 and t_ms
        self.board = board
        self.library = library
        self.syringes = syringes
        self.events = events.EventRing()
        self.state = IDLE
        self.program = None  # the validated Program, once entered
        self.plan = None  # its MotionPlan, once started
        self.alarm_code = 0
        self._origin_count = 0  # counter reading when the infusion started
        self._commanded = 0  # steps handed to the generator so far (plan-relative)
        self._last_ms = hal.clock.now_ms()
        self.now_ms = self._last_ms
        self._tick_us = board.tick_ms * 1000
        self._min_period_us = 1000000 // board.drive.max_step_rate_hz
        hal.stepper.enable(False)

    # ---- operator commands -------------------------------------------------------------
    def program_prescription(self, fields: dict, prior_ug_24h: int = 0):
        """Validate and hold a prescription; a soft-limit entry waits for confirmation."""
        self._require((IDLE, PROGRAMMED, AWAITING_CONFIRMATION, COMPLETE), "program")
        p = prescription.validate(fields, self.library, self.syringes, self.board.drive, prior_ug_24h)
        self.program = p
        self.plan = None
        self._set_state(AWAITING_CONFIRMATION if p.soft_fields else PROGRAMMED)
        return p

    def confirm(self, fields) -> None:
        """Accept a soft-limit entry; `fields` must name exactly the overridden fields."""
        self._require((AWAITING_CONFIRMATION,), "confirm")
        named = sorted([f for f in fields])
        expected = sorted(self.program.soft_fields)
        if named != expected:
            raise Rejected(CONFIRMATION_MISMATCH, "fields", ",".join(named), ",".join(expected))
        self._set_state(PROGRAMMED)

    def start(self) -> None:
        self._require((PROGRAMMED,), "start")
        p = self.program
        self.plan = MotionPlan(p.total_steps, p.duration_ms)
        self._origin_count = self.hal.counter.count()
        self._commanded = 0
        self._last_ms = self.hal.clock.now_ms()
        self.hal.stepper.enable(True)
        self._set_state(RUNNING)

    def pause(self) -> None:
        self._require((RUNNING,), "pause")
        self._halt_motion()
        self._set_state(PAUSED)

    def resume(self) -> None:
        self._require((PAUSED,), "resume")
        if self.plan is None:
            raise Rejected(BAD_STATE, "state", "paused", "an infusion to resume")
        self._last_ms = self.hal.clock.now_ms()
        self.hal.stepper.enable(True)
        self._set_state(RUNNING)

    def stop(self) -> None:
        """End the infusion (or discard the program); what was delivered stays reported."""
        self._require((PROGRAMMED, AWAITING_CONFIRMATION, RUNNING, PAUSED, COMPLETE), "stop")
        self._halt_motion()
        self._set_state(IDLE)

    def acknowledge(self) -> None:
        self._require((ALARM,), "acknowledge")
        code = self.alarm_code
        self.events.push(events.ACK, code, self.now_ms)
        self.alarm_code = 0
        if self.plan is not None and self.plan.done() and self.delivered_steps() >= self.program.total_steps:
            self._set_state(COMPLETE)
        elif self.plan is not None and code not in alarms.FINAL:
            self._set_state(PAUSED)
        else:
            self._set_state(IDLE)

    def set_occlusion_level(self, level: str) -> int:
        """Choose the occlusion pressure level; returns its threshold in mmHg."""
        levels = self.limits["occlusion_levels_mmhg"]
        if level not in levels:
            raise Rejected(BAD_VALUE, "level", level, ",".join(sorted(levels)))
        self.occlusion_level = level
        return levels[level]

    def report_vitals(self, readings: dict) -> None:
        """Latest patient vitals from a connected monitor (mmHg, bpm, %)."""
        ranges = {"sbp": (20, 300), "dbp": (10, 200), "hr": (20, 250), "spo2": (50, 100)}
        for k in readings:
            lo, hi = ranges[k]
            v = readings[k]
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise Rejected(BAD_VALUE, k, v, "%d..%d" % (lo, hi))
        for k in readings:
            self.vitals[k] = readings[k]
        self.vitals["t_ms"] = self.now_ms

    # ---- the control loop --------------------------------------------------------------
    def tick(self, now_ms: int) -> None:
        """One pass of the control loop. Allocation-free."""
        self.hal.watchdog.feed()
        dt_ms = self.hal.clock.diff_ms(now_ms, self._last_ms)
        self._last_ms = now_ms
        self.now_ms = now_ms
        if self.state == RUNNING and dt_ms > 0:
            self._drive(dt_ms)
        self._supervise()

    def _drive(self, dt_ms: int) -> None:
        target = self.plan.advance(dt_ms)
        due = target - self._commanded
        if due > 0:
            period_us = self._tick_us // due
            if period_us < self._min_period_us:
                period_us = self._min_period_us
            self.hal.stepper.move(due, period_us)
            self._commanded = target

    def _supervise(self) -> None:
        if self.plan is None or self.state == ALARM:
            return
        delivered = self.hal.counter.count() - self._origin_count
        total = self.program.total_steps
        if delivered >= total:
            # The independent counter, not the generator, decides that the dose is complete.
            self.hal.stepper.halt()
            if delivered > total + _OVERRUN_TOLERANCE_STEPS:
                self.raise_alarm(alarms.DOSE_OVERRUN)
                return
            if self.state == RUNNING and self.plan.done():
                self.hal.stepper.enable(False)
                self._set_state(COMPLETE)

    # ---- alarms ------------------------------------------------------------------------
    def raise_alarm(self, code: int) -> None:
        """Latch an alarm: motor disabled at once, state kept until acknowledged."""
        self.hal.stepper.enable(False)
        self.hal.stepper.halt()
        if self.state == ALARM:
            self.events.push(events.ALARM, code, self.now_ms)  # recorded, first one stays latched
            return
        self.alarm_code = code
        self._resync_commanded()
        self.events.push(events.ALARM, code, self.now_ms)
        self._set_state(ALARM)

    # ---- reporting ---------------------------------------------------------------------
    def delivered_steps(self) -> int:
        if self.plan is None:
            return 0
        return self.hal.counter.count() - self._origin_count

    def delivered_nl(self) -> int:
        if self.program is None:
            return 0
        return dosing.steps_to_nl(self.delivered_steps(), self.program.inner_diameter_um, self.board.drive)

    def force_mn(self) -> int:
        """Plunger force from the load cell, with the board's calibration (reporting only)."""
        f = self.board.force
        return (self.hal.force.raw() - f["offset_counts"]) * 1000 // f["counts_per_n"]

    def state_name(self) -> str:
        return STATE_NAMES[self.state]

    # ---- internals ---------------------------------------------------------------------
    def _halt_motion(self) -> None:
        self.hal.stepper.halt()
        self.hal.stepper.enable(False)
        self._resync_commanded()

    def _resync_commanded(self) -> None:
        # Steps dropped from the generator's queue are re-issued by the plan after a resume.
        if self.plan is not None:
            self._commanded = self.delivered_steps()

    def _set_state(self, state: int) -> None:
        self.state = state
        self.events.push(events.STATE, state, self.now_ms)

    def _require(self, allowed: tuple, command: str) -> None:
        if self.state not in allowed:
            names = ",".join([STATE_NAMES[s] for s in allowed])
            raise Rejected(BAD_STATE, command, STATE_NAMES[self.state], names)
