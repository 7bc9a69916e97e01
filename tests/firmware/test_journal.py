"""The power-loss-safe journal: round trips, damage, compaction and a power cut at every byte."""

from firmware import frames
from firmware.hal.virtual import MemoryStorage, VirtualClock
from firmware.journal import DAY_MS, EVENT_VALUE_KEYS, LINK_SEQ_AHEAD, MAX_PAST_DOSES, Journal, decode, encode
from tests.firmware.checks import raises
from tests.firmware.fixtures import LIBRARY, SYRINGES, pain_rx, standard_rx

WALL_S = 1700000000
SPAN_STEPS = 300  # the scripted pump commits this far ahead: one progress interval and some


class PowerCut(Exception):
    pass


class CuttingStorage:
    """Passes writes on until `budget_bytes` have been written, then the power goes: the
    append in progress keeps only its first bytes, a replace keeps nothing (its temporary file
    is never renamed), and every later call fails."""

    def __init__(self, inner, budget_bytes: int) -> None:
        self.inner = inner
        self.left = budget_bytes
        self.cut = False
        self.written = 0

    def read(self, name: str) -> bytes:
        self._alive()
        return self.inner.read(name)

    def append(self, name: str, data: bytes) -> None:
        self._alive()
        if len(data) > self.left:
            self.inner.append(name, data[:self.left])
            self._power_off()
        self.inner.append(name, data)
        self._spend(len(data))

    def replace(self, name: str, data: bytes) -> None:
        self._alive()
        if len(data) > self.left:
            self._power_off()
        self.inner.replace(name, data)
        self._spend(len(data))

    def _spend(self, n: int) -> None:
        self.left -= n
        self.written += n

    def _alive(self) -> None:
        if self.cut:
            raise PowerCut("no power")

    def _power_off(self) -> None:
        self.cut = True
        self.left = 0
        raise PowerCut("power cut")


class Pump:
    """A scripted pump that obeys the commit rule: its motor issues steps only up to what the
    journal has durably committed, and it notes every event record whose append returned, the
    settings it chose and the link frames it accepted."""

    def __init__(self, storage, max_bytes: int = 1024, keep_events: int = 4) -> None:
        self.clock = VirtualClock(1000)
        self.j = Journal(storage, clock=self.clock, max_bytes=max_bytes, keep_events=keep_events)
        self.issued = 0  # steps really emitted on the STEP line
        self.acked = []  # (seq, kind) of event records whose append returned
        self.in_flight = None  # (seq, kind) of the record being written
        self.settings = {}  # name -> (value before, value being set): the latest set() call
        self.frames = []  # link sequence numbers accepted (their accept_link_seq returned)

    def call(self, kind: str, method, *args) -> None:
        self.in_flight = (self.j.state.last_seq + 1, kind)
        method(*args)
        if kind in EVENT_VALUE_KEYS:
            self.acked.append(self.in_flight)

    def setting(self, name: str, value) -> None:
        before = self.settings[name][1] if name in self.settings else None
        self.settings[name] = (before, value)
        self.call("set", self.j.setting, name, value)
        self.settings[name] = (value, value)

    def frame(self, seq: int) -> None:
        self.call("seq", self.j.accept_link_seq, seq)
        self.frames.append(seq)

    def run(self, seconds: int, steps_per_s: int) -> None:
        for _ in range(seconds):
            self.clock.advance(1000)
            self.issued = min(self.j.committed_steps, self.issued + steps_per_s)

    def progress(self) -> None:
        self.call("prog", self.j.progress, self.issued, self.issued + SPAN_STEPS)

    def running(self, intervals: int, steps_per_s: int) -> None:
        for _ in range(intervals):
            self.run(5, steps_per_s)
            self.progress()


def scripted_session(pump: Pump) -> None:
    """Start, progress, pause, resume, an alarm and its acknowledgement, completion."""
    j = pump.j
    pump.call("boot", j.power_on, "pwron")
    pump.call("clock", j.set_wall_clock, WALL_S)
    pump.frame(1)
    pump.setting("occlusion", "low")
    pump.call("rx", j.prescription, standard_rx())
    pump.frame(2)
    pump.call("start", j.start, 24000, 35000, SPAN_STEPS, 70000)
    pump.running(8, 40)
    pump.frame(1 + LINK_SEQ_AHEAD)
    pump.frame(2 + LINK_SEQ_AHEAD)  # past the reservation: a new one
    pump.call("pause", j.pause, pump.issued)
    pump.clock.advance(30000)
    pump.call("resume", j.resume, pump.issued, pump.issued + SPAN_STEPS)
    pump.running(6, 55)
    pump.run(2, 55)
    pump.call("alarm", j.alarm, 5, pump.issued)
    pump.call("ack", j.acknowledge, 5)
    pump.call("resume", j.resume, pump.issued, pump.issued + SPAN_STEPS)
    pump.running(12, 30)
    pump.call("done", j.complete, pump.issued)
    pump.setting("occlusion", "high")
    pump.frame(3 * LINK_SEQ_AHEAD)
    pump.call("patient", j.patient, 150000, 70000)


def _journal(max_bytes: int = 16384, keep_events: int = 64):
    storage = MemoryStorage()
    clock = VirtualClock(500)
    j = Journal(storage, clock=clock, max_bytes=max_bytes, keep_events=keep_events)
    j.power_on("pwron")
    return storage, clock, j


def _reset(storage, keep_events: int = 64, clock=None):
    """A reset: the same flash, a fresh journal object, a clock that restarts near zero."""
    clock = clock if clock is not None else VirtualClock(7)
    return clock, Journal(MemoryStorage(dict(storage.files)), clock=clock, keep_events=keep_events)


def _kinds(state) -> list:
    return [e[2] for e in state.events]


def _records(storage) -> list:
    """(offset, line) of every record line in the stored journal."""
    out = []
    at = 0
    for line in storage.files["journal"].split(b"\n"):
        if line:
            out.append((at, line))
        at += len(line) + 1
    return out


def _flip_bit(storage, record_index: int, byte_index: int, bit: int) -> None:
    data = bytearray(storage.files["journal"])
    data[_records(storage)[record_index][0] + byte_index] ^= 1 << bit
    storage.files["journal"] = bytes(data)


def test_every_record_kind_round_trips():
    """Each kind written comes back from replay with its seq, time, kind and value."""
    storage, clock, j = _journal()
    rx = standard_rx()
    written = [("boot", "pwron")]
    steps = [("clock", j.set_wall_clock, (WALL_S,), WALL_S),
             ("rx", j.prescription, (rx,), None),
             ("start", j.start, (24000, 35000, 120, 70000), 24000),
             ("prog", j.progress, (100, 220), None),
             ("pause", j.pause, (180,), 180),
             ("resume", j.resume, (180, 300), 180),
             ("alarm", j.alarm, (5, 250), 5),
             ("ack", j.acknowledge, (5,), 5),
             ("stop", j.stop, (250,), 250),
             ("done", j.complete, (250,), 250),
             ("seq", j.accept_link_seq, (77,), None),
             ("patient", j.patient, (150000, 70000), 150000),
             ("set", j.setting, ("occlusion", "low"), "occlusion=low")]
    for kind, method, args, value in steps:
        clock.advance(1234)
        method(*args)
        if kind in EVENT_VALUE_KEYS:
            written.append((kind, value))
    state = j.replay()
    assert [(e[2], e[3]) for e in state.events if e[2] != "rx"] == [w for w in written if w[0] != "rx"]
    assert state.prescription == rx
    rx_text = [e[3] for e in state.events if e[2] == "rx"][0]
    assert frames.parse_pairs(rx_text.split(" ")) == rx
    assert [e[0] for e in state.events] == sorted(set([e[0] for e in state.events]))
    times = [e[1] for e in state.events]
    assert times[0] == 0 and times[-1] == 1234 * len(steps)
    assert state.last_seq == len(steps) + 2 and state.bad_records == 0 and not state.torn_tail  # + start's prog
    assert state.settings == {"occlusion": "low"} and state.link_seq == 77 + LINK_SEQ_AHEAD
    assert state.past_doses == [] and state.patient_g(state.t_ms) is None and state.session.earlier_patient


def test_every_shipped_prescription_value_round_trips():
    """Each syringe id and profile in the data files can be journalled and read back as is."""
    storage, clock, j = _journal()
    entered = []
    for syringe in SYRINGES.ids():
        entered.append(standard_rx(syringe=syringe))
    for profile in LIBRARY.profiles("ketamine"):
        entered.append(pain_rx(profile=profile))
    for rx in entered:
        j.prescription(rx)
        assert j.replay().prescription == rx


def test_clean_session_replays_as_complete():
    """A finished infusion: not in progress, delivered exact, alarm acknowledged."""
    storage = MemoryStorage()
    pump = Pump(storage, max_bytes=16384)
    scripted_session(pump)
    state = Journal(storage).replay()
    assert not state.in_progress
    assert state.delivered_steps == pump.issued and state.session.counted_steps == pump.issued
    assert state.last_alarm == 5 and state.alarm_acked and not state.alarm_latched
    assert state.session.total_steps == 24000 and state.session.end_wall_s is not None
    assert [(e[0], e[2]) for e in state.events] == pump.acked


def test_running_infusion_reports_its_commitment():
    """Mid-infusion the replayed delivery is the last commitment: above the count, by one span."""
    storage, clock, j = _journal()
    j.start(24000, 35000, 300, 70000)
    clock.advance(5000)
    j.progress(250, 550)
    state = j.replay()
    assert state.in_progress and state.session.moving
    assert state.delivered_steps == 550 and state.session.counted_steps == 250
    assert j.committed_steps == 550


def test_power_on_closes_an_interrupted_infusion_without_resuming():
    """After a cut while running, power-on records the bound and reports the motor as stopped."""
    storage, clock, j = _journal()
    j.start(24000, 35000, 300, 70000)
    j.progress(250, 550)
    clock2, j2 = _reset(storage)
    state = j2.power_on("wdt")
    assert state.in_progress and state.session.interrupted and not state.session.moving
    assert state.delivered_steps == 550 and j2.committed_steps == 0
    assert state.events[-1][2:] == ("boot", "wdt")
    assert decode(_records(j2.storage)[-1][1])[3]["d"] == 550
    paused = Journal(MemoryStorage()).power_on("pwron")
    assert not paused.in_progress and paused.delivered_steps == 0


def test_torn_final_record_is_ignored_and_the_next_append_works():
    """A partial last line is skipped; power-on closes it and later records read back whole."""
    storage, clock, j = _journal()
    j.start(24000, 35000, 300, 70000)
    j.progress(250, 550)
    whole = encode(j.state.last_seq + 1, 9000, "prog", [("d", 500), ("c", 800)])
    for keep in (2, 10, len(whole) - 6):
        files = dict(storage.files)
        files["journal"] += whole[:keep]
        damaged = MemoryStorage(files)
        state = Journal(damaged).replay()
        assert state.torn_tail and state.bad_records == 0
        assert state.delivered_steps == 550 and state.last_seq == j.state.last_seq
        clock2, j2 = _reset(damaged)
        j2.power_on("pwron")
        j2.stop(520)
        after = j2.replay()
        assert after.bad_records == 0 and after.torn_records == 1 and not after.torn_tail
        assert _kinds(after)[-2:] == ["boot", "stop"] and after.delivered_steps == 520


def test_record_missing_only_its_newline_is_kept():
    """A cut just before the final newline leaves a whole record: it counts, and appends follow."""
    storage, clock, j = _journal()
    j.start(24000, 35000, 300, 70000)
    storage.files["journal"] = storage.files["journal"][:-1]
    state = Journal(storage).replay()
    assert not state.torn_tail and state.in_progress and state.delivered_steps == 300
    clock2, j2 = _reset(storage)
    j2.power_on("pwron")
    after = j2.replay()
    assert _kinds(after)[-2:] == ["start", "boot"] and after.bad_records == 0 and after.torn_records == 0


def test_bit_flip_in_a_middle_record_is_skipped_and_counted():
    """A damaged middle record is dropped and counted; every other record still reads."""
    storage, clock, j = _journal()
    j.set_wall_clock(WALL_S)
    j.alarm(4)
    j.acknowledge(4)
    j.alarm(6)
    _flip_bit(storage, 2, 5, 3)
    state = Journal(storage).replay()
    assert state.bad_records == 1 and not state.torn_tail
    assert _kinds(state) == ["boot", "clock", "ack", "alarm"]
    assert state.last_alarm == 6 and not state.alarm_acked


def test_damaged_last_commitment_keeps_the_bound_safe():
    """If the newest commitment is damaged the bound widens by a span instead of falling back."""
    storage, clock, j = _journal()
    j.start(24000, 35000, 300, 70000)
    j.progress(280, 580)
    j.progress(560, 860)  # the motor may now be anywhere up to 860
    for byte_index in (-1, 0, 12, len(_records(storage)[-1][1]) - 1, len(_records(storage)[-1][1])):
        files = MemoryStorage(dict(storage.files))
        _flip_bit(files, -1, byte_index, 1)
        state = Journal(files).replay()
        assert state.bad_records == 1 and state.delivered_steps >= 860
        assert state.delivered_steps <= 860 + 300


def test_compaction_keeps_the_state_and_recent_events():
    """A snapshot file replays to the same state, holds the last events, and stays small."""
    storage, clock, j = _journal(max_bytes=2048, keep_events=8)
    j.set_wall_clock(WALL_S)
    j.prescription(standard_rx())
    j.start(24000, 35000, 300, 70000)
    before = None
    for i in range(200):
        clock.advance(5000)
        j.progress(i * 100, i * 100 + 300)
        if i % 40 == 7:
            j.pause(i * 100)
            j.resume(i * 100, i * 100 + 300)
        if j.compactions == 0:
            before = j.state.summary()
        assert len(storage.files["journal"]) <= 2048 + 64
    assert j.compactions >= 3
    state = j.replay()
    assert state.summary() == j.state.summary()
    assert state.prescription == standard_rx() and state.in_progress
    assert state.delivered_steps == 199 * 100 + 300 and state.session.span_steps == 300
    assert len(state.events) == 8 and _kinds(state)[-2:] == ["pause", "resume"]
    assert before is not None and before["prescription"] == state.prescription


def test_compaction_alone_changes_no_recovered_fact():
    """compact() then replay gives the state that was there before, events included."""
    storage, clock, j = _journal(keep_events=16)
    j.set_wall_clock(WALL_S)
    j.prescription(standard_rx())
    j.start(24000, 35000, 300, 70000)
    j.progress(200, 500)
    j.alarm(5, 480)
    before = j.replay().summary()
    j.compact()
    after = j.replay().summary()
    del before["last_seq"], after["last_seq"]
    assert after == before


def _check_after_cut(pump: Pump, inner) -> None:
    state = Journal(inner, keep_events=4).replay()
    assert state.bad_records == 0
    if pump.in_flight[1] == "boot" and state.last_seq == 0:
        return  # the first record never made it: nothing was ever done
    assert pump.issued <= state.delivered_steps <= pump.issued + SPAN_STEPS
    seqs = [(e[0], e[2]) for e in state.events]
    for event in pump.acked[-3:]:
        assert event in seqs, (event, seqs)
    for event in seqs:
        assert event in pump.acked or event == pump.in_flight
    _check_kept_state(pump, state)
    clock, j2 = _reset(inner, keep_events=4)
    again = j2.power_on("cut")
    assert again.delivered_steps == state.delivered_steps and j2.committed_steps == 0
    j2.stop(pump.issued)
    final = j2.replay()
    assert final.bad_records == 0 and not final.torn_tail and _kinds(final)[-2:] == ["boot", "stop"]
    assert final.delivered_steps == pump.issued and not final.in_progress


def _check_kept_state(pump: Pump, state) -> None:
    """Settings, the link's sequence number and the patient after a cut: what was written."""
    for name in pump.settings:
        assert state.settings.get(name) in pump.settings[name], (name, state.settings)
    for seq in pump.frames:
        assert not frames.seq_after(seq, state.link_seq), (seq, state.link_seq)
    kinds = [k for _s, k in pump.acked]
    if "patient" in kinds:
        assert state.patient_g(state.t_ms) is None and state.past_doses == []
    elif "start" in kinds and pump.in_flight[1] != "patient":
        assert state.patient_g(state.t_ms) == 70000


def test_power_cut_at_every_byte_never_understates_delivery():
    """Cut the power after every possible byte count of a scripted session: recovery never
    reports less than was delivered, at most one span more, and keeps every finished event,
    setting, accepted link sequence number and the patient's identity."""
    full = MemoryStorage()
    counting = CuttingStorage(full, 1 << 30)
    scripted = Pump(counting)
    scripted_session(scripted)
    total = counting.written
    assert scripted.j.compactions >= 1
    assert scripted.issued == 8 * 5 * 40 + 6 * 5 * 55 + 2 * 55 + 12 * 5 * 30  # never held back
    for budget in range(total + 1):
        inner = MemoryStorage()
        pump = Pump(CuttingStorage(inner, budget))
        try:
            scripted_session(pump)
        except PowerCut:
            pass
        else:
            assert budget == total
        _check_after_cut(pump, inner)


def test_journal_time_continues_across_resets():
    """Journal time goes on from the last record after a reset, whatever the new tick count."""
    storage, clock, j = _journal()
    clock.advance(60000)
    j.alarm(2)
    clock2, j2 = _reset(storage, clock=VirtualClock(123456))
    j2.power_on("pwron")
    clock2.advance(4000)
    j2.acknowledge(2)
    times = [e[1] for e in j2.replay().events]
    assert times == [0, 60000, 60000, 64000]


def test_cumulative_dose_counts_the_last_24_hours_by_wall_clock():
    """With the wall clock known, yesterday's infusion drops out after 24 h and not before."""
    storage, clock, j = _journal()
    j.set_wall_clock(WALL_S)
    j.start(24000, 35000, 24000, 70000)
    j.complete(24000)
    j.start(10000, 7000, 2500, 70000)
    j.stop(2500)  # a quarter of 7000 ug, rounded up
    state = j.replay()
    assert state.ug_last_24h(0, WALL_S + 3600) == 35000 + 1750
    assert state.ug_last_24h(0, WALL_S + 86399) == 35000 + 1750
    assert state.ug_last_24h(0, WALL_S + 86400) == 0
    assert state.past_doses[0][2] == 35000
    # the patient is bound exactly as long as a dose of theirs counts
    assert state.patient_g(0, WALL_S + 86399) == 70000 and state.patient_g(0, WALL_S + 86400) is None


def test_cumulative_dose_falls_back_to_journal_time():
    """Without a wall clock an infusion counts until 24 h of powered-on time have passed."""
    storage, clock, j = _journal()
    j.start(3, 10, 1, 70000)
    j.stop(1)  # one third of 10 ug, rounded up to 4
    clock2, j2 = _reset(storage)  # power off for a night: unknown, so not subtracted
    j2.power_on("pwron")
    assert j2.ug_last_24h() == 4
    assert j2.state.ug_last_24h(j2.state.t_ms, WALL_S) == 4
    assert j2.state.ug_last_24h(DAY_MS, None) == 0


def test_a_dose_with_lost_totals_makes_the_sum_unknown():
    """Progress without its start record (damaged) leaves the dose unknown, not zero."""
    storage, clock, j = _journal()
    j.start(24000, 35000, 300, 70000)
    j.progress(250, 550)
    _flip_bit(storage, 1, 4, 0)
    state = j.replay()
    assert state.bad_records == 1 and state.in_progress and state.delivered_steps == 550
    assert state.ug_last_24h(state.t_ms) is None


def test_past_doses_are_bounded_and_merged_cautiously():
    """Many infusions: the oldest merge into one with the later end and the summed dose."""
    storage, clock, j = _journal()
    for i in range(MAX_PAST_DOSES + 5):
        clock.advance(60000)
        j.start(100, 1000, 100, 70000)
        j.complete(100)
    state = j.replay()
    assert len(state.past_doses) == MAX_PAST_DOSES
    last_ug = state.session.delivered_ug()
    assert last_ug is not None
    assert sum([d[2] for d in state.past_doses]) + last_ug == 1000 * (MAX_PAST_DOSES + 5)
    merged = (MAX_PAST_DOSES + 4) - MAX_PAST_DOSES + 1  # the oldest doses, ended at 1..5 min
    assert state.past_doses[0][0] == merged * 60000 and state.past_doses[1][0] == (merged + 1) * 60000
    assert state.ug_last_24h(state.t_ms) == 1000 * (MAX_PAST_DOSES + 5)


def test_bad_arguments_are_refused_with_the_value():
    """Negative counts, text with spaces or numeric-looking text are refused, nothing written."""
    storage, clock, j = _journal()
    size = len(storage.files["journal"])
    e = raises(ValueError, j.progress, -1, 10)
    assert "counted_steps=-1" in str(e)
    assert "syringe" in str(raises(ValueError, j.prescription, {"syringe": "bd 50"}))
    raises(ValueError, j.prescription, {"syringe": "50"})
    raises(ValueError, j.prescription, {"Drug": "x"})
    raises(ValueError, j.alarm, True)
    raises(ValueError, Journal, storage, "journal", None, 100)
    assert len(storage.files["journal"]) == size


def test_writing_before_power_on_is_refused():
    """Records can only follow power_on(), which replays and records the reset first."""
    j = Journal(MemoryStorage())
    e = raises(ValueError, j.alarm, 5)
    assert "power_on" in str(e)
    assert j.replay().last_seq == 0 and j.storage.read("journal") == b""


def test_commitments_need_an_open_infusion_and_stay_within_the_span():
    """Progress without a start, or committing further ahead than the span, is refused."""
    storage, clock, j = _journal()
    assert "start()" in str(raises(ValueError, j.progress, 0, 10))
    raises(ValueError, j.pause, 0)
    j.start(24000, 35000, 300, 70000)
    e = raises(ValueError, j.progress, 100, 401)
    assert "committed_steps=401" in str(e) and "allows 300" in str(e)
    j.progress(100, 400)
    j.stop(150)
    raises(ValueError, j.resume, 150, 300)
    assert j.replay().delivered_steps == 150


def test_a_back_off_does_not_lower_the_delivered_count():
    """After a pressure-relief back-off the lower net count does not un-deliver drug."""
    storage, clock, j = _journal()
    j.start(24000, 35000, 300, 70000)
    j.progress(900, 1200)
    j.alarm(5, 1000)
    assert j.replay().delivered_steps == 1000
    j.acknowledge(5)
    j.pause(950)  # net count after backing off 50 steps
    assert j.replay().delivered_steps == 1000
    j.resume(950, 1250)
    j.stop(1100)
    state = j.replay()
    assert state.delivered_steps == 1100 and state.session.counted_steps == 1100
