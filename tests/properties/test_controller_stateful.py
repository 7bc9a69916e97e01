"""Stateful property test of the controller: random operator commands, sensor faults, occlusions,
switch changes, vitals and generator faults, with the safety invariants checked after every step."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from firmware.controller import ALARM, RUNNING
from firmware.errors import Rejected
from tests.firmware.fixtures import controller, pain_rx, standard_rx

PRESCRIPTIONS = st.sampled_from([
    standard_rx(), standard_rx(dose_ug_kg=800), standard_rx(conc_ug_ml=1000), standard_rx(dose_ug_kg=2000),
    standard_rx(syringe="nope"), pain_rx(), standard_rx(duration_min=20, dose_ug_kg=100),
])


class PumpMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.vb, self.ctl = controller()
        self.last_state = self.ctl.state
        self.last_position = 0
        self.ever_started = False
        self.latched = False

    # ---- operator ----------------------------------------------------------------------
    def _try(self, fn, *args):
        before = (self.ctl.state, self.ctl.program, self.ctl.plan)
        try:
            fn(*args)
        except Rejected:
            assert (self.ctl.state, self.ctl.program, self.ctl.plan) == before  # refusals change nothing

    @rule(rx=PRESCRIPTIONS)
    def program(self, rx):
        self._try(self.ctl.program_prescription, rx)

    @rule()
    def confirm(self):
        fields = list(self.ctl.program.soft_fields) if self.ctl.program else []
        self._try(self.ctl.confirm, fields)

    @rule()
    def start(self):
        self._try(self.ctl.start)
        if self.ctl.state == RUNNING:
            self.ever_started = True

    @rule()
    def pause(self):
        self._try(self.ctl.pause)

    @rule()
    def resume(self):
        self._try(self.ctl.resume)

    @rule()
    def stop(self):
        self._try(self.ctl.stop)

    @rule()
    def acknowledge(self):
        self._try(self.ctl.acknowledge)
        self.latched = self.ctl.state == ALARM

    # ---- the world ---------------------------------------------------------------------
    @rule(ms=st.integers(100, 120000))
    def run_for(self, ms):
        t = 0
        while t < ms:
            before_state = self.ctl.state
            before_pos = self.vb.stepper.position
            self.vb.advance(100)
            self.ctl.tick(self.vb.clock.now_ms())
            self.ctl.service(self.vb.clock.now_ms())
            t += 100
            if before_state != RUNNING and self.ctl.state != RUNNING:
                # no forward motion outside RUNNING (an occlusion back-off only goes backwards)
                assert self.vb.stepper.position <= before_pos + 1
            if self.latched:
                assert self.ctl.state == ALARM  # latched until acknowledged
            if self.ctl.state == ALARM:
                self.latched = True

    @rule(which=st.sampled_from(["syringe", "plunger", "end_stop"]), value=st.booleans())
    def switch(self, which, value):
        setattr(self.vb.switches, which, value)

    @rule(kind=st.sampled_from(["silent", "alive", "jump", "ramp", "normal"]))
    def force(self, kind):
        if kind == "silent":
            self.vb.auto_force = False
        elif kind == "alive":
            self.vb.auto_force = True
        elif kind == "jump":
            self.vb.force_counts = 12600 + 400000
        elif kind == "ramp":
            self.vb.force_counts += 8000
        else:
            self.vb.force_counts = 12600

    @rule(sbp=st.integers(80, 230), dbp=st.integers(40, 130), hr=st.integers(40, 160), spo2=st.integers(80, 100))
    def vitals(self, sbp, dbp, hr, spo2):
        self._try(self.ctl.report_vitals, {"sbp": sbp, "dbp": dbp, "hr": hr, "spo2": spo2})
        if self.ctl.state == ALARM:
            self.latched = True

    @rule(n=st.integers(1, 3000))
    def runaway(self, n):
        self.vb.stepper.runaway_steps = n

    @rule(on=st.booleans())
    def stall(self, on):
        self.vb.stepper.stalled = on

    # ---- invariants ----------------------------------------------------------------------
    @invariant()
    def motor_off_in_alarm_unless_relieving(self):
        if self.ctl.state == ALARM and self.ctl._backoff_target is None:
            assert not self.vb.stepper.enabled

    @invariant()
    def no_motion_without_a_started_program(self):
        if not self.ever_started:
            assert self.vb.stepper.position == 0

    @invariant()
    def never_more_than_the_total_plus_runaway_burst(self):
        # Delivered never exceeds the prescription by more than one step, except a burst the
        # test injected into the generator itself (the hardware budget gate bounds that on boards).
        if self.ctl.plan is not None and self.vb.stepper.runaway_steps == 0 and self.ctl.alarm_code != 1:
            assert self.ctl.delivered_steps() <= self.ctl.program.total_steps + 1


PumpMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestPumpMachine = PumpMachine.TestCase
