"""Property tests of the journal (CPython, hypothesis): random sessions, random power cuts,
random flipped bits. The rules: recovery never reports less than the motor delivered nor
more than one span above it, finished events survive, compaction changes nothing."""

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from firmware import frames
from firmware.hal.virtual import MemoryStorage, VirtualClock
from firmware.journal import EVENT_VALUE_KEYS, Journal
from tests.firmware.fixtures import standard_rx
from tests.firmware.test_journal import CuttingStorage, PowerCut

KEEP_EVENTS = 6
WALL_S = 1700000000

RUN = st.tuples(st.just("run"), st.integers(1, 10), st.integers(0, 90))  # intervals, steps/s
START = st.tuples(st.just("start"), st.integers(1, 50000), st.integers(50, 2000))
OPS = st.one_of(
    RUN, RUN, RUN, START,
    st.sampled_from([("pause",), ("resume",), ("ack",), ("stop",), ("done",), ("rx",), ("clock",), ("reset",),
                     ("patient",)]),
    st.tuples(st.just("alarm"), st.integers(1, 11)),
    st.tuples(st.just("set"), st.sampled_from(["low", "medium", "high"])),
    st.tuples(st.just("frame"), st.integers(1, 600)),  # the link's next frame, this far ahead
)
# Sessions begin with a prescription and a start, so most of them deliver something.
SESSIONS = st.tuples(START, st.lists(OPS, min_size=10, max_size=80)).map(lambda p: [("rx",), p[0]] + p[1])


class Model:
    """The pump around the journal: a motor that only moves within the durable commitment,
    a truthful counter, the events whose records were acknowledged, and power cycles."""

    def __init__(self, storage, max_bytes: int, power_on: bool = True) -> None:
        self.storage = storage
        self.max_bytes = max_bytes
        self.clock = VirtualClock(0)
        self.issued = 0  # steps delivered in the current infusion (what really happened)
        self.span = 0
        self.acked = []  # (seq, kind) of event records whose append returned
        self.in_flight = None
        self.level = (None, None)  # the occlusion setting: (durable, being written)
        self.link_seq = 0  # the last link frame accepted
        self.weight_g = 70000
        self.j = None
        if power_on:
            self.boot("pwron")

    def boot(self, cause: str) -> None:
        self.clock = VirtualClock(self.clock.now_ms() * 7 % 100000)  # a new tick count
        self.j = Journal(self.storage, clock=self.clock, max_bytes=self.max_bytes, keep_events=KEEP_EVENTS)
        self.call("boot", self.j.power_on, cause, seq=self.j.replay().last_seq + 1)

    def call(self, kind: str, method, *args, seq=None) -> None:
        self.in_flight = (seq if seq is not None else self.j.state.last_seq + 1, kind)
        method(*args)
        if kind in EVENT_VALUE_KEYS:
            self.acked.append(self.in_flight)

    def interval(self, steps_per_s: int) -> None:
        """Five seconds of motion within the commitment, then the next progress record."""
        for _ in range(5):
            self.clock.advance(1000)
            self.issued = min(self.j.committed_steps, self.issued + steps_per_s)
        self.call("prog", self.j.progress, self.issued, self.issued + self.span)

    def open(self) -> bool:
        return self.j.state.in_progress

    def do(self, op: tuple) -> None:
        name = op[0]
        j = self.j
        moving = self.open() and j.state.session.moving
        if name == "run" and moving:
            for _ in range(op[1]):
                self.interval(op[2])
        elif name == "start" and not self.open():
            self.issued, self.span = 0, op[2]
            self.call("start", j.start, op[1], op[1] * 3 // 2, op[2], self.weight_g)
        elif name == "pause" and moving:
            self.call("pause", j.pause, self.issued)
        elif name == "resume" and self.open() and not moving:
            self.call("resume", j.resume, self.issued, self.issued + self.span)
        elif name == "alarm":
            self.call("alarm", j.alarm, op[1], self.issued if self.open() else None)
        elif name == "ack":
            self.call("ack", j.acknowledge, j.state.last_alarm)
        elif name in ("stop", "done") and self.open():
            self.call(name, j.stop if name == "stop" else j.complete, self.issued)
        elif name == "rx":
            self.call("rx", j.prescription, standard_rx())
        elif name == "clock":
            self.call("clock", j.set_wall_clock, WALL_S + self.clock.elapsed_ms // 1000)
        elif name == "reset":
            self.boot("soft")
        elif name == "patient" and not self.open():
            self.call("patient", j.patient, self.weight_g + 1000, self.weight_g)
            self.weight_g += 1000
        elif name == "set":
            self.level = (self.level[0], op[1])
            self.call("set", j.setting, "occlusion", op[1])
            self.level = (op[1], op[1])
        elif name == "frame":
            seq = (self.link_seq + op[1] - 1) % (frames.SEQ_MODULO - 1) + 1
            self.call("seq", j.accept_link_seq, seq)
            self.link_seq = seq

    def after_cut(self, inner) -> None:
        """Check what survived; a record the cut left whole is an event from now on."""
        state = Journal(inner, keep_events=KEEP_EVENTS).replay()
        event("cut while infusing" if state.in_progress else "cut while idle")
        self.check(state)
        if self.in_flight in [(e[0], e[2]) for e in state.events]:
            self.acked.append(self.in_flight)
        self.in_flight = None
        level = state.settings.get("occlusion")
        self.level = (level, level)

    def check(self, state) -> None:
        """What a replay must say about the pump as it is now."""
        if state.in_progress:
            assert self.issued <= state.delivered_steps <= self.issued + self.span
        seqs = [(e[0], e[2]) for e in state.events]
        for event in self.acked[-(KEEP_EVENTS - 1):]:
            assert event in seqs
        for event in seqs:
            assert event in self.acked or event == self.in_flight
        assert state.bad_records == 0
        assert state.settings.get("occlusion") in self.level
        assert self.link_seq == 0 or not frames.seq_after(self.link_seq, state.link_seq)


def _run(model: Model, ops: list) -> None:
    for op in ops:
        model.do(op)


def _bytes_written(ops: list, max_bytes: int) -> int:
    counting = CuttingStorage(MemoryStorage(), 1 << 30)
    _run(Model(counting, max_bytes), ops)
    return counting.written


@settings(max_examples=200, deadline=None)
@given(SESSIONS, st.lists(st.floats(0, 1), min_size=1, max_size=3), st.sampled_from([1024, 1024, 2048]))
@example(  # the first power-on cut just before its newline: that boot record is kept
    ops=[("rx",), ("start", 1, 50), ("run", 1, 0), ("run", 1, 0), ("run", 1, 2), ("resume",), ("resume",),
         ("alarm", 1), ("stop",), ("start", 1, 50), ("pause",), ("resume",)],
    cut_fractions=[0.05078125, 0.5],
    max_bytes=1024,
)
def test_cuts_at_random_bytes_never_understate_delivery(ops, cut_fractions, max_bytes):
    """Power cut after random byte counts, rebooted each time: every recovery is within bounds."""
    total = _bytes_written(ops, max_bytes)
    budgets = [int(f * total) for f in cut_fractions]
    inner = MemoryStorage()
    # Built before the first power-on, so a cut inside it still leaves a model that knows
    # which record was in flight (a boot record cut only before its newline is kept).
    model = Model(inner, max_bytes, power_on=False)
    cause = "pwron"
    remaining = list(ops)
    for budget in budgets + [1 << 30]:
        model.storage = CuttingStorage(inner, budget)
        try:
            model.boot(cause)
            while remaining:
                model.do(remaining.pop(0))
        except PowerCut:
            model.after_cut(inner)
            cause = "cut"
            continue
        break
    event("compacted" if model.j.compactions else "not compacted")
    model.check(Journal(inner, keep_events=KEEP_EVENTS).replay())


@settings(max_examples=100, deadline=None)
@given(SESSIONS)
def test_compaction_changes_no_recovered_fact(ops):
    """compact() at any point: replay gives the same facts (bar the snapshot's own seqs)."""
    model = Model(MemoryStorage(), 16384)
    _run(model, ops)
    before = model.j.replay().summary()
    model.j.compact()
    after = model.j.replay().summary()
    assert after["last_seq"] == before["last_seq"] + 2
    del before["last_seq"], after["last_seq"]
    assert after == before


@settings(max_examples=200, deadline=None)
@given(SESSIONS, st.integers(0, 1 << 20), st.integers(0, 7), st.sampled_from([1024, 16384]))
def test_one_flipped_bit_is_noticed_and_never_understates(ops, where, bit, max_bytes):
    """A bit flipped anywhere is noticed, and lowers neither the delivered bound below the
    truth nor the 24 h dose below the undamaged journal's (unknown is allowed: None)."""
    storage = MemoryStorage()
    model = Model(storage, max_bytes)
    _run(model, ops)
    data = storage.files["journal"]
    clean = Journal(storage, keep_events=KEEP_EVENTS).replay()
    damaged = bytearray(data)
    at = where % len(data)
    damaged[at] ^= 1 << bit
    state = Journal(MemoryStorage({"journal": bytes(damaged)}), keep_events=KEEP_EVENTS).replay()
    assert state.bad_records >= 1 or state.torn_tail
    if clean.in_progress:
        event("flip inside an infusion")
        assert state.delivered_steps >= model.issued
    for now_wall_s in (None, WALL_S + 86400):
        clean_ug = clean.ug_last_24h(clean.t_ms, now_wall_s)
        ug = state.ug_last_24h(clean.t_ms, now_wall_s)
        assert ug is None or clean_ug is None or ug >= clean_ug
