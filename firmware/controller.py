"""The pump controller: a state machine driven by `tick(now_ms)` from the main loop.

    idle -> programmed (or awaiting_confirmation for a soft-limit entry -> programmed)
         -> running <-> paused -> complete
    any state -> alarm (latched; motor disabled) -> acknowledged -> paused / idle / complete

Operator commands (program, confirm, start, pause, resume, stop, acknowledge) are methods that
either change state or raise `Rejected` and change nothing. `tick()` runs the motion plan and
the supervision (firmware/safety.py); it touches hardware only through the HAL given to the
constructor and it allocates nothing, so a board's loop can run it for hours without a garbage
collection pause.

Every alarm is latched: the driver's enable goes off at once and stays off until the operator
acknowledges, except for the one move an occlusion alarm makes: a back-off of about the volume
pushed into the blocked line, so it is not released into the patient as a bolus. After a pause,
an alarm or a back-off the plan catches up at no more than twice the prescribed rate, and never
faster than the library's hard rate limit.
"""

from firmware import alarms, dosing, events, prescription, pressure
from firmware.compat import const
from firmware.datafile import data_path, load_json
from firmware.errors import (BAD_STATE, BAD_VALUE, CONFIRMATION_MISMATCH, CUMULATIVE_LIMIT, HARD_LIMIT, MISSING_FIELD,
                             NOT_READY, Rejected)
from firmware.journal import Journal
from firmware.library import DOSE_OVER_DURATION
from firmware.motion import MotionPlan
from firmware.safety import Safety
from firmware.service import Service
from firmware.vitals import VitalsGuard

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
    # Set once a prescription is entered / an infusion started; methods that use them are only
    # reachable in states where they are set (the `None` before is for reporting only).
    program: "prescription.Program"
    plan: MotionPlan

    def __init__(self, hal, board, library, syringes, limits=None, journal=None, reset_cause: str = "power") -> None:
        self.hal = hal
        self.limits = limits if limits is not None else load_json(data_path("alarm_limits.json"))
        self.occlusion_level = self.limits["occlusion_default"]
        self.vitals_guard = VitalsGuard(self.limits["vitals"])
        self.vitals = self.vitals_guard.latest  # latest reported: sbp, dbp, bp_id, hr, spo2
        self.safety = Safety(self.limits, board)
        self.board = board
        self.library = library
        self.syringes = syringes
        self.events = events.EventRing()
        self.state = IDLE
        self.program = None  # type: ignore[assignment]  # the validated Program, once entered
        self.plan = None  # type: ignore[assignment]  # its MotionPlan, once started
        self.alarm_code = 0
        self._origin_count = 0  # counter reading when the infusion started
        self._commanded = 0  # steps handed to the generator so far (plan-relative)
        self._last_ms = hal.clock.now_ms()
        self.now_ms = self._last_ms
        self._tick_us = board.tick_ms * 1000
        self._min_period_us = 1000000 // board.drive.max_step_rate_hz
        self._max_steps_per_tick = 1
        self._near_end_ms = self.limits["near_end_min"] * 60000
        self._near_end_warned = False
        self._backoff_target = None  # counter position an occlusion back-off stops at
        self._backoff_left = 0  # back-off steps the generator has not taken yet
        self.alarm_force_raw = 0  # load-cell reading when the last alarm latched
        self._alarm_serial = 0  # counts latched alarms; the journal writes each once
        self._journaled_alarm = 0
        self._journaled_done = True
        self._max_counted = 0  # highest delivered count of this infusion (back-offs do not lower it)
        self._span = 0
        jl = self.limits["journal"]
        self._progress_ms = jl["progress_ms"]
        self._next_progress_ms = self._last_ms
        hal.stepper.enable(False)
        self.journal = journal if journal is not None else Journal(
            hal.storage, clock=hal.clock, max_bytes=jl["max_bytes"], keep_events=jl["keep_events"])
        recovered = self.journal.power_on(reset_cause)
        self.recovered_events = list(recovered.events)  # what the journal held at power-on
        self._restore_settings(recovered.settings)
        self._recover(recovered, reset_cause)
        self.service_state = Service(self.journal, hal)  # in SERVICE if the journal says so

    # ---- operator commands -------------------------------------------------------------
    def program_prescription(self, fields: dict, prior_ug_24h=None):
        """Validate and hold a prescription; a soft-limit entry waits for confirmation. What was
        given in the last 24 h, and to which patient, comes from the journal (the caller may
        give the amount)."""
        self._require((IDLE, PROGRAMMED, AWAITING_CONFIRMATION, COMPLETE), "program")
        try:
            profile = self.library.profile(fields.get("drug"), fields.get("profile"))
        except Rejected:
            profile = None  # validate() names the unknown drug or profile
        if profile is not None:
            self.service_state.check_profile(profile, self.library)
        if prior_ug_24h is None:
            prior_ug_24h = self.journal.ug_last_24h()
            if prior_ug_24h is None:
                prior_ug_24h = self._unknown_prior(profile)
        # A test-only profile's weight is nominal (water has no patient): it binds no patient.
        patient_g = None if profile is not None and profile.test_only else self.journal.patient_g()
        p = prescription.validate(fields, self.library, self.syringes, self.board.drive, prior_ug_24h, patient_g)
        self.journal.prescription(p.entered())
        self.program = p
        self.plan = None  # type: ignore[assignment]
        self._set_state(AWAITING_CONFIRMATION if p.soft_fields else PROGRAMMED)
        return p

    def _unknown_prior(self, profile) -> int:
        """A damaged journal lost a recent dose: refuse where a daily maximum applies."""
        if profile is not None and profile.limit("cumulative_ug_kg_24h") is not None:
            raise Rejected(CUMULATIVE_LIMIT, "cumulative_ug_kg_24h", "unknown", "a journal whose doses of the last 24 h are readable")
        return 0

    def reidentify_patient(self, weight_g, was_g) -> None:
        """The operator declares another patient (weight_g) in place of the one dosed in the
        last 24 h, restating that one's recorded weight (was_g) so the step cannot be taken
        blind. Journalled first; the earlier doses then no longer count towards the daily
        maximum, and a program held for the earlier patient is discarded."""
        self._require((IDLE, PROGRAMMED, AWAITING_CONFIRMATION, COMPLETE), "patient")
        for name, value in (("weight_g", weight_g), ("was_g", was_g)):
            if value is None:
                raise Rejected(MISSING_FIELD, name, "", "required")
            if not isinstance(value, int) or isinstance(value, bool):
                raise Rejected(BAD_VALUE, name, value, "an integer")
        limit = self.library.weight_g
        if not limit.within_hard(weight_g):
            raise Rejected(HARD_LIMIT, "weight_g", weight_g, limit.hard_text())
        recorded = self.journal.patient_g()
        if recorded is None or was_g != recorded:
            raise Rejected(CONFIRMATION_MISMATCH, "was_g", was_g, "none" if recorded is None else str(recorded))
        self.service(self.now_ms)  # a completion is on flash before the patient changes
        if self.journal.state.in_progress:
            # An infusion the pump no longer holds (ended by a final alarm, or halted before a
            # reset): it ends here, with the delivered bound the journal has.
            self.journal.stop()
        self.journal.patient(weight_g, was_g)
        self.program = None  # type: ignore[assignment]
        self.plan = None  # type: ignore[assignment]
        self._set_state(IDLE)

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
        self._require_ready()
        self._require_vitals()
        p = self.program
        self.plan = MotionPlan(p.total_steps, p.duration_ms)
        self._max_steps_per_tick = self._rate_cap(p)
        self.safety.arm(p, self.limits["occlusion_levels_mmhg"][self.occlusion_level], self._max_steps_per_tick)
        self.safety.restart()
        self._near_end_warned = False
        self._origin_count = self.hal.counter.count()
        self._commanded = 0
        self._max_counted = 0
        self._span = 2 * self._max_steps_per_tick * (self._progress_ms // self.board.tick_ms + 1) + 2
        # Commits the first span before any motion. Water on a test-only profile is no drug and
        # has no patient: it must not count towards a clinical 24-hour limit nor bind a patient.
        bench = self.library.profile(p.drug, p.profile).test_only
        self.journal.start(p.total_steps, 0 if bench else p.total_ug, self._span, 0 if bench else p.weight_g)
        self._journaled_done = False
        self._last_ms = self.hal.clock.now_ms()
        self._next_progress_ms = self.hal.clock.now_ms()
        self.hal.stepper.enable(True)
        self._set_state(RUNNING)

    def _rate_cap(self, p) -> int:
        """Most steps one tick may issue: twice the plan's rate, and within the hard rate limit."""
        tick = self.board.tick_ms
        per_tick = (p.total_steps * tick + p.duration_ms - 1) // p.duration_ms
        cap = 2 * per_tick + 1
        limit = self.library.profile(p.drug, p.profile).limit("rate_ug_kg_h")
        if limit is not None:
            # program rate in ug/kg/h, as a fraction: dose*60/duration or the entered rate
            if p.mode == DOSE_OVER_DURATION:
                rate_num, rate_den = p.dose_ug_kg * 60, p.duration_min
            else:
                rate_num, rate_den = p.rate_ug_kg_h, 1
            hard = p.total_steps * limit.hard_max * rate_den * tick // (rate_num * p.duration_ms)
            if hard < cap:
                cap = hard if hard > 1 else 1
        return cap

    def _require_ready(self) -> None:
        why = self.safety.not_ready(self.hal)
        if why:
            raise Rejected(NOT_READY, why, "false" if why != "end_stop" else "true", "syringe loaded, plunger engaged, not empty")

    def _require_vitals(self) -> None:
        """No start or resume on vitals that meet a pause criterion, nor without the fresh
        readings the profile requires (firmware/vitals.py)."""
        required = self.library.profile(self.program.drug, self.program.profile).vitals_required
        self.vitals_guard.check_start(required, self.hal.clock.now_ms(), self.hal.clock)

    def pause(self) -> None:
        self._require((RUNNING,), "pause")
        self._halt_motion()
        self.journal.pause(self._counted_for_journal())
        self._set_state(PAUSED)

    def resume(self) -> None:
        self._require((PAUSED,), "resume")
        if self.plan is None:
            raise Rejected(BAD_STATE, "state", "paused", "an infusion to resume")
        self._require_ready()
        self._require_vitals()
        self.safety.restart()
        counted = self._counted_for_journal()
        self.journal.resume(counted, self._next_commitment(counted))
        self._last_ms = self.hal.clock.now_ms()
        self._next_progress_ms = self._last_ms
        self.hal.stepper.enable(True)
        self._set_state(RUNNING)

    def stop(self) -> None:
        """End the infusion (or discard the program); what was delivered stays reported."""
        self._require((PROGRAMMED, AWAITING_CONFIRMATION, RUNNING, PAUSED, COMPLETE), "stop")
        self._halt_motion()
        if self.state in (RUNNING, PAUSED):
            self.journal.stop(self._counted_for_journal())
        elif self.state != COMPLETE:
            self.journal.stop()
        self._set_state(IDLE)

    def acknowledge(self) -> None:
        self._require((ALARM,), "acknowledge")
        code = self.alarm_code
        self._end_backoff()
        self.service(self.now_ms)  # the alarm is on flash before its acknowledgement
        self.journal.acknowledge(code)
        self.events.push(events.ACK, code, self.now_ms)
        self.alarm_code = 0
        if self.plan is not None and self.plan.done() and self.delivered_steps() >= self.program.total_steps:
            self._set_state(COMPLETE)
        elif self.plan is not None and code not in alarms.FINAL:
            self._set_state(PAUSED)
        else:
            self._set_state(IDLE)

    def set_occlusion_level(self, level: str) -> int:
        """Choose the occlusion pressure level; returns its threshold in mmHg. Journalled
        before it takes effect, so a reset comes back with the level chosen."""
        levels = self.limits["occlusion_levels_mmhg"]
        if level not in levels:
            raise Rejected(BAD_VALUE, "level", level, ",".join(sorted(levels)))
        if level != self.occlusion_level:
            self.journal.setting("occlusion", level)
        self.occlusion_level = level
        self.safety.set_level(levels[level])
        return levels[level]

    def report_vitals(self, readings: dict) -> None:
        """New readings from a connected monitor (mmHg, bpm, %; a cuff reading with its bp_id).
        A pause criterion met while running latches the VITALS alarm."""
        code = self.vitals_guard.report(readings, self.hal.clock.now_ms(), self.hal.clock)
        if code and self.state == RUNNING:
            self.raise_alarm(code)

    # ---- the control loop --------------------------------------------------------------
    def tick(self, now_ms: int) -> None:
        """One pass of the control loop. Allocation-free."""
        self.hal.watchdog.feed()
        dt_ms = self.hal.clock.diff_ms(now_ms, self._last_ms)
        self._last_ms = now_ms
        self.now_ms = now_ms
        if self.state == RUNNING and dt_ms > 0:
            self._drive(dt_ms)
            self._supervise()  # the dose first: an overrun is named as such
            if self.state == RUNNING:
                self._watch(dt_ms)
            return
        if self._backoff_target is not None:
            self._relieve()
        self._supervise()

    def _drive(self, dt_ms: int) -> None:
        target = self.plan.advance(dt_ms)
        due = target - self._commanded
        if due > self._max_steps_per_tick:
            due = self._max_steps_per_tick
        room = self.journal.committed_steps - self._commanded
        if due > room:
            due = room  # never past what the journal has committed to flash
        if due > 0:
            period_us = self._tick_us // due
            if period_us < self._min_period_us:
                period_us = self._min_period_us
            self._commanded += self.hal.stepper.move(due, period_us)

    def _watch(self, dt_ms: int) -> None:
        """The interlocks while running, then the warnings."""
        counted = self.hal.counter.count() - self._origin_count
        if counted > self._max_counted:
            self._max_counted = counted
        code = self.safety.check(dt_ms, self.hal, self._commanded, counted)
        if code:
            self.alarm_force_raw = self.hal.force.raw()
            self.raise_alarm(code)
            if code == alarms.OCCLUSION:
                self._start_backoff(counted)
            return
        if not self._near_end_warned and self.plan.remaining_ms() <= self._near_end_ms:
            self._near_end_warned = True
            self.events.push(events.WARNING, alarms.NEAR_END, self.now_ms)
        stale = self.vitals_guard.stale_warning(self.now_ms, self.hal.clock)
        if stale:
            self.events.push(events.WARNING, stale, self.now_ms)

    def _start_backoff(self, counted: int) -> None:
        n = self.safety.backoff_steps(counted)
        if n <= 0:
            return
        self._backoff_target = self.hal.counter.count() - n
        self._backoff_left = n
        self.hal.stepper.enable(True)
        self._backoff_left += self.hal.stepper.move(-n, self._min_period_us)

    def _relieve(self) -> None:
        """Back-off in progress: stop as soon as the counter says the volume is taken back, or
        when every back-off step has gone out (a generator that takes one train at a time is
        asked again here for the rest)."""
        if self.hal.counter.count() <= self._backoff_target:
            self._finish_backoff()
        elif self.hal.stepper.pending() == 0:
            if self._backoff_left <= 0:
                self._finish_backoff()
            else:
                self._backoff_left += self.hal.stepper.move(-self._backoff_left, self._min_period_us)

    def _finish_backoff(self) -> None:
        self._end_backoff()
        self.events.push(events.WARNING, alarms.BACKOFF_DONE, self.now_ms)

    def _end_backoff(self) -> None:
        if self._backoff_target is not None:
            self.hal.stepper.enable(False)
            self.hal.stepper.halt()
            self._backoff_target = None
            self._resync_commanded()

    def _supervise(self) -> None:
        if self.plan is None or self.state == ALARM:
            return
        delivered = self.hal.counter.count() - self._origin_count
        total = self.program.total_steps
        if delivered >= total:
            # The independent counter, not the generator, decides that the dose is complete:
            # the driver's enable goes first, then the generator stops.
            self.hal.stepper.enable(False)
            self.hal.stepper.halt()
            if delivered > total + _OVERRUN_TOLERANCE_STEPS:
                self.raise_alarm(alarms.DOSE_OVERRUN)
                return
            if self.state == RUNNING and self.plan.done():
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
        self._alarm_serial += 1
        self._resync_commanded()
        self.events.push(events.ALARM, code, self.now_ms)
        self._set_state(ALARM)

    # ---- the journal (outside the control loop) ------------------------------------------------
    def service(self, now_ms: int) -> None:
        """Housekeeping after each tick, where allocation is allowed: write what the tick changed
        (a latched alarm, a completion) and the periodic progress record with the next commitment."""
        if self._alarm_serial != self._journaled_alarm:
            self._journaled_alarm = self._alarm_serial
            open_infusion = self.plan is not None and not self._journaled_done
            self.journal.alarm(self.alarm_code, self._counted_for_journal() if open_infusion else None)
        if self.state == COMPLETE and not self._journaled_done:
            self._journaled_done = True
            self.journal.complete(self._counted_for_journal())
        if self.state == RUNNING and self.hal.clock.diff_ms(now_ms, self._next_progress_ms) >= 0:
            self._next_progress_ms = now_ms + self._progress_ms
            counted = self._counted_for_journal()
            self.journal.progress(counted, self._next_commitment(counted))

    def _counted_for_journal(self) -> int:
        counted = self.delivered_steps()
        if counted > self._max_counted:
            self._max_counted = counted
        return self._max_counted

    def _next_commitment(self, counted: int) -> int:
        """What the motor may have issued by the next progress record: the plan's target one
        interval (and two ticks) ahead, so a reset over-states delivery by about one interval;
        never more than the span declared at start, never past the total."""
        ahead_ms = self.plan.elapsed_ms + self._progress_ms + 2 * self.board.tick_ms
        c = self.plan.target_at(ahead_ms)
        if c < counted:
            c = counted
        if c > counted + self._span:
            c = counted + self._span
        return c if c < self.program.total_steps else self.program.total_steps

    def _restore_settings(self, settings: dict) -> None:
        """The safety settings chosen before the reset (a level the data no longer has: the
        default, as for a pump that was never set)."""
        if settings.get("occlusion") in self.limits["occlusion_levels_mmhg"]:
            self.occlusion_level = settings["occlusion"]

    def _recover(self, st, reset_cause: str) -> None:
        """After a reset: take back the program and the delivered bound of an infusion that was
        running or paused, and come up in alarm. Nothing moves until the operator acknowledges
        and resumes; a paused infusion is not dropped in silence with its journal record open."""
        s = st.session
        if s is None or not s.open:
            return
        delivered = st.delivered_steps
        try:
            p = prescription.validate(st.prescription or {}, self.library, self.syringes, self.board.drive, 0)
        except Rejected:
            p = None  # the library changed under the program: it can only be stopped
        if p is not None and p.total_steps == s.total_steps:
            self.program = p
            self.plan = MotionPlan(p.total_steps, p.duration_ms)
            self.plan.advance((delivered * p.duration_ms + p.total_steps - 1) // p.total_steps)
            self._max_steps_per_tick = self._rate_cap(p)
            self._span = s.span_steps
            self.safety.arm(p, self.limits["occlusion_levels_mmhg"][self.occlusion_level], self._max_steps_per_tick)
            self._origin_count = self.hal.counter.count() - delivered
            self._commanded = delivered
            self._max_counted = delivered
            self._journaled_done = False
        code = alarms.WATCHDOG_RESET if reset_cause == "watchdog" else alarms.POWER_LOSS
        self.raise_alarm(code)

    # ---- reporting ---------------------------------------------------------------------
    def delivered_steps(self) -> int:
        if self.plan is None:
            return 0
        return self.hal.counter.count() - self._origin_count

    def delivered_nl(self) -> int:
        if self.program is None:
            return 0
        return dosing.steps_to_nl(self.delivered_steps(), self.program.inner_diameter_um, self.board.drive)

    def pressure_mmhg(self, raw=None) -> int:
        """Line pressure from the load cell through the program's syringe (reporting only)."""
        return self.safety.pressure_mmhg(self.hal.force.raw() if raw is None else raw)

    def force_mn(self) -> int:
        """Plunger force from the load cell, with the board's calibration (reporting only)."""
        f = self.board.force
        return (self.hal.force.raw() - f["offset_counts"]) * 1000 // f["counts_per_n"]

    def state_name(self) -> str:
        return STATE_NAMES[self.state]

    # ---- internals ---------------------------------------------------------------------
    def _halt_motion(self) -> None:
        self.hal.stepper.enable(False)  # the driver's enable is the safety cut: first, always
        self.hal.stepper.halt()
        self._resync_commanded()

    def _resync_commanded(self) -> None:
        # Steps dropped from the generator's queue are re-issued by the plan after a resume;
        # a train still in flight after a halt (the ESP32's RMT is never interrupted) will be
        # counted, so it counts as commanded: its pulses reach a disabled driver, and the
        # counter errs on the side of more delivered, never less.
        if self.plan is not None:
            self._commanded = self.delivered_steps() + self.hal.stepper.pending()

    def _set_state(self, state: int) -> None:
        self.state = state
        self.events.push(events.STATE, state, self.now_ms)

    def _require(self, allowed: tuple, command: str) -> None:
        if self.state not in allowed:
            names = ",".join([STATE_NAMES[s] for s in allowed])
            raise Rejected(BAD_STATE, command, STATE_NAMES[self.state], names)
