"""Stateful property test of the controller: random operator commands, sensor faults, occlusions,
switch changes, vitals and generator faults, with the safety invariants checked after every step.
Across resets too: the daily maximum of the first-recorded patient (whatever weight is entered
later, unless the patient is explicitly re-identified), the occlusion level, and the link's
sequence numbers (a frame accepted before a reset is never accepted after it). The vitals gate is
checked against a model built from the data files alone (`VitalsModel`)."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from firmware import frames
from firmware.controller import ALARM, AWAITING_CONFIRMATION, PROGRAMMED, RUNNING, Controller
from firmware.datafile import data_path, load_json
from firmware.errors import Rejected
from firmware.hal.virtual import MemoryStorage, VirtualBoard
from firmware.protocol import Protocol
from tests.firmware.fixtures import LIBRARY, NORMAL_VITALS, SYRINGES, board, controller, pain_rx, standard_rx

VITALS_LIMITS = load_json(data_path("alarm_limits.json"))["vitals"]
LIBRARY_DOC = load_json(data_path("drug_library.json"))

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
        self.true_prev_lives = 0  # steps this infusion delivered before the last reset
        self.true_base = 0  # STEP-line position when this infusion started (in this life)
        self.gate_failed_now = False
        # the daily maximum per patient, settings and the link, across resets (own rules below)
        self.patient_g = None  # the first-recorded patient's weight (None: nobody dosed yet)
        self.patient_ug = 0  # ug truly given to that patient by finished infusions, all lives
        self.infusion = None  # [total_ug, total_steps, most true steps so far] of the last one started
        self.level = self.ctl.occlusion_level
        self.proto = None  # the protocol of self.ctl (a reset brings a new one)
        self.proto_ctl = None
        self.life = 0
        self.link_frames = []  # (life, frame bytes) of frames the pump accepted

    def _true_delivered(self) -> int:
        return self.true_prev_lives + self.vb.stepper.position - self.true_base

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

    @rule(rx=PRESCRIPTIONS)
    def program_and_start(self, rx):
        """The common path in one step, so infusions (and resets during them) are frequent."""
        self.program(rx)
        self.confirm()
        self.start()

    @rule()
    def confirm(self):
        fields = list(self.ctl.program.soft_fields) if self.ctl.program else []
        self._try(self.ctl.confirm, fields)

    @rule()
    def start(self):
        before = self.ctl.state
        self._try(self.ctl.start)
        if self.ctl.state == RUNNING and before != RUNNING:
            self.ever_started = True
            self.true_prev_lives = 0
            self.true_base = self.vb.stepper.position
            self.gate_failed_now = False
            self._started_for_patient()

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
            self._count_true_dose()
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
        self._report_vitals({"sbp": sbp, "dbp": dbp, "bp_id": self._vm().new_bp_id(), "hr": hr, "spo2": spo2})

    @rule(n=st.integers(1, 3000), gate_failed=st.booleans())
    def runaway(self, n, gate_failed):
        self.vb.stepper.runaway_steps = n
        self.vb.stepper.gate_failed = gate_failed
        self.gate_failed_now = self.gate_failed_now or gate_failed

    @rule(cause=st.sampled_from(["power", "watchdog"]))
    def reset(self, cause):
        """The board restarts: new hardware state, the same flash."""
        self._count_true_dose()
        delivered = self._true_delivered()
        flash = MemoryStorage(dict(self.vb.storage.files))
        self.vb = VirtualBoard(storage=flash)
        self.ctl = Controller(self.vb.hal, board(), LIBRARY, SYRINGES, reset_cause=cause)
        self.latched = self.ctl.state == ALARM
        if self.ctl.plan is not None:
            assert self.ctl.delivered_steps() >= delivered  # never under-states what was given
            self.true_prev_lives = delivered
            self.true_base = 0
            assert self.ctl.state == ALARM and not self.vb.stepper.enabled  # never resumes by itself

    @rule(on=st.booleans())
    def stall(self, on):
        self.vb.stepper.stalled = on

    # ---- the bedside monitor and the vitals gate ----------------------------------------------
    def _vm(self) -> "VitalsModel":
        """The model of what the monitor reported in this life of the controller (RAM: a reset
        forgets it, as the pump does)."""
        vm = getattr(self, "_vitals_model", None)
        if vm is None or vm.ctl is not self.ctl:
            vm = self._vitals_model = VitalsModel(self.ctl)
        return vm

    def _report_vitals(self, readings):
        vm = self._vm()
        try:
            self.ctl.report_vitals(readings)
        except Rejected:
            return
        vm.note(readings, self.vb.clock.now_ms())
        if self.ctl.state == ALARM:
            self.latched = True

    @rule(kind=st.sampled_from(["bp", "bp_again", "hr", "spo2"]), sbp=st.integers(70, 230), dbp=st.integers(30, 130),
          hr=st.integers(30, 160), spo2=st.integers(75, 100))
    def monitor_reading(self, kind, sbp, dbp, hr, spo2):
        """One reading as a monitor sends it: a new cuff reading, the last one again, HR or SpO2."""
        vm = self._vm()
        if kind == "bp":
            self._report_vitals({"sbp": sbp, "dbp": dbp, "bp_id": vm.new_bp_id()})
        elif kind == "bp_again" and vm.bp_id is not None:
            self._report_vitals({"sbp": self.ctl.vitals["sbp"], "dbp": self.ctl.vitals["dbp"], "bp_id": vm.bp_id, "hr": hr})
        else:
            self._report_vitals({kind: hr if kind == "hr" else spo2})

    @rule(rx=PRESCRIPTIONS)
    def monitored_program_and_start(self, rx):
        """The clinic's path: the monitor reports normal vitals, then program and start."""
        self._report_vitals(dict(NORMAL_VITALS, bp_id=self._vm().new_bp_id()))
        self.program_and_start(rx)

    @rule()
    def monitored_resume(self):
        self._report_vitals(dict(NORMAL_VITALS, bp_id=self._vm().new_bp_id()))
        self.resume()

    @invariant()
    def start_and_resume_only_on_fresh_normal_vitals(self):
        """START/RESUME never succeed while the latest fresh vitals meet a pause criterion, or
        while a reading the profile requires is missing or stale."""
        vm = self._vm()
        if self.ctl.state == RUNNING and vm.last_state != RUNNING:
            p = self.ctl.program
            assert vm.gate_allows(p.drug, p.profile, self.vb.clock.now_ms()), (vm.seen, self.vb.clock.now_ms())
        vm.last_state = self.ctl.state

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
    def never_more_than_one_step_over(self):
        """Over all lives of this infusion, never more than one step past the total (unless the
        test broke the budget gate too: then the counter's DOSE_OVERRUN is the last line)."""
        if self.ctl.plan is not None and not self.gate_failed_now:
            assert self._true_delivered() <= self.ctl.program.total_steps + 1

    @invariant()
    def journal_replays_to_the_same_state(self):
        """What the journal would say after a reset equals what it says now."""
        j = self.ctl.journal
        assert j.replay().summary() == j.state.summary()


    # ---- the daily maximum per patient, settings and the link across resets ----------------
    def _count_true_dose(self):
        """The most steps the infusion under way has truly delivered (a back-off does not take
        drug back from the patient)."""
        if self.infusion is not None and self.ctl.plan is not None:
            self.infusion[2] = max(self.infusion[2], self._true_delivered())

    def _close_infusion(self):
        if self.infusion is not None:
            total_ug, total_steps, steps = self.infusion
            self.patient_ug += steps * total_ug // total_steps
            self.infusion = None

    def _started_for_patient(self):
        p = self.ctl.program
        self._close_infusion()
        if self.patient_g is None:
            self.patient_g = p.weight_g
        assert p.weight_g == self.patient_g  # never dosed under another weight silently
        self.infusion = [p.total_ug, p.total_steps, 0]

    @rule(weight_g=st.sampled_from([45000, 70000, 150000]), dose=st.sampled_from([100, 500, 1000]))
    def program_for_weight(self, weight_g, dose):
        """Another weight, and doses up to the daily maximum (20 min; soft overrides confirmed)."""
        self.program(standard_rx(weight_g=weight_g, dose_ug_kg=dose, duration_min=20))
        self.confirm()

    @rule(new_g=st.sampled_from([45000, 70000, 150000]), restate=st.booleans())
    def reidentify(self, new_g, restate):
        """PATIENT: only with the recorded weight restated, only between infusions."""
        was = self.patient_g if restate and self.patient_g is not None else 12345
        before = self.ctl.journal.state.last_seq
        self._try(self.ctl.reidentify_patient, new_g, was)
        if self.ctl.journal.state.last_seq != before:  # accepted: the patient record is written
            assert restate and self.ctl.program is None
            self._count_true_dose()
            self.infusion = None  # given to the earlier patient
            self.patient_g = None
            self.patient_ug = 0

    @invariant()
    def daily_maximum_held_for_the_first_recorded_patient(self):
        """A program accepted for the patient fits their daily maximum with what they truly got."""
        p = self.ctl.program
        if p is None or self.ctl.state not in (PROGRAMMED, AWAITING_CONFIRMATION) or self.patient_g is None:
            return
        assert p.weight_g == self.patient_g, (p.weight_g, self.patient_g)
        limit = LIBRARY.profile(p.drug, p.profile).limit("cumulative_ug_kg_24h")
        if limit is not None:
            given = self.patient_ug
            if self.infusion is not None:
                given += self.infusion[2] * self.infusion[0] // self.infusion[1]
            assert (given + p.total_ug) * 1000 <= limit.hard_max * self.patient_g, (given, p.total_ug)

    @rule(level=st.sampled_from(["low", "medium", "high", "extreme"]))
    def occlusion_level(self, level):
        self._try(self.ctl.set_occlusion_level, level)
        if level != "extreme":
            self.level = level

    @invariant()
    def occlusion_level_is_the_one_chosen(self):
        """Through every reset the level is the one the operator last chose."""
        assert self.ctl.occlusion_level == self.level

    def _link(self) -> Protocol:
        if self.proto_ctl is not self.ctl:  # a reset: a new pump on the same flash
            self.proto = Protocol(self.ctl, self.vb.link, telemetry_ms=0)
            self.proto_ctl = self.ctl
            self.life += 1
        assert self.proto is not None
        return self.proto

    def _send(self, frame: bytes) -> bytes:
        proto = self._link()
        self.vb.link.rx.extend(frame)
        proto.poll(self.vb.clock.now_ms())
        out = bytes(self.vb.link.tx)
        self.vb.link.tx = bytearray()
        return out

    @rule(gap=st.integers(1, 600), body=st.sampled_from(["STATUS", "ID", "TELEMETRY interval_ms=0"]))
    def link_frame(self, gap, body):
        """The host's next frame, sometimes skipping numbers (as after lost frames)."""
        proto = self._link()
        seq = proto.last_seq
        for _ in range(gap):
            seq = frames.next_seq(seq)
        frame = frames.seal("%d %s" % (seq, body))
        before = proto.stats["frames"]
        out = self._send(frame)
        if proto.stats["frames"] == before + 1:
            self.link_frames.append((self.life, frame))
        else:
            assert gap >= frames.SEQ_WINDOW, out

    @precondition(lambda self: self.link_frames)
    @rule(data=st.data())
    def replay_a_frame_from_before_a_reset(self, data):
        proto = self._link()
        earlier = [f for life, f in self.link_frames if life < self.life]
        if not earlier:
            return
        frame = data.draw(st.sampled_from(earlier))
        before = proto.stats["frames"]
        out = self._send(frame)
        assert proto.stats["frames"] == before and b"ERR SEQ_ORDER" in out, out


class VitalsModel:
    """What the monitor reported, and the gate it implies, from the data files alone: the newest
    reading of each kind (a cuff reading only when its bp_id is new) and when it came."""

    KIND = {"sbp": "bp", "dbp": "bp", "hr": "hr", "spo2": "spo2"}

    def __init__(self, ctl) -> None:
        self.ctl = ctl
        self.seen = {}  # kind -> (t_ms, {reading: value})
        self.bp_id = None
        self.last_state = ctl.state

    def new_bp_id(self) -> int:
        return 1 if self.bp_id is None else self.bp_id % 65535 + 1

    def note(self, readings, t_ms) -> None:
        if "bp_id" in readings and readings["bp_id"] != self.bp_id:
            self.bp_id = readings["bp_id"]
            self.seen["bp"] = (t_ms, {"sbp": readings["sbp"], "dbp": readings["dbp"]})
        for kind in ("hr", "spo2"):
            if kind in readings:
                self.seen[kind] = (t_ms, {kind: readings[kind]})

    def gate_allows(self, drug, profile, now_ms) -> bool:
        required = LIBRARY_DOC["drugs"][drug]["profiles"][profile].get("vitals_required", [])
        for kind in ("bp", "hr", "spo2"):
            t_ms, values = self.seen.get(kind, (None, {}))
            if t_ms is None or now_ms - t_ms >= VITALS_LIMITS["stale_ms"][kind]:
                if kind in required:
                    return False
                continue
            for c in VITALS_LIMITS["criteria"]:
                if self.KIND[c["reading"]] == kind:
                    v = values[c["reading"]]
                    if ("above" in c and v > c["above"]) or ("below" in c and v < c["below"]):
                        return False
        return True


PumpMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestPumpMachine = PumpMachine.TestCase
