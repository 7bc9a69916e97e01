"""Fuzzing the pump's parser: random bytes and mutated valid frames never raise, never change state
from an invalid frame, and never grow memory without bound; and a stateful model of sequence
numbers: a used number never acts twice nor gets another command's answer."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from firmware import frames
from firmware.link_budget import LINES_PER_POLL, OUTPUT_BYTES_PER_POLL_MAX
from firmware.protocol import LOG_MAX, MAX_LINE
from tests.firmware.protocol_fixture import STANDARD, Bench

VALID = [
    frames.seal("1 PROGRAM " + STANDARD),
    frames.seal("1 START"),
    frames.seal("1 OCCLUSION level=low"),
    frames.seal("1 VITALS sbp=120 dbp=80 bp_id=2 hr=70 spo2=98"),
    frames.seal("1 TELEMETRY interval_ms=1000"),
    frames.seal("1 CONFIRM fields=dose_ug_kg"),
]


@st.composite
def mutated_frames(draw):
    frame = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        if len(frame) < 3:
            break
        op = draw(st.sampled_from(("flip", "delete", "insert", "truncate")))
        i = draw(st.integers(0, len(frame) - 2))  # keep the final newline so the frame is parsed
        if op == "flip":
            frame[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "delete" and len(frame) > 2:
            del frame[i]
        elif op == "insert":
            frame.insert(i, draw(st.integers(0, 255)))
        else:
            frame = frame[:i] + b"\n"
    return bytes(frame)


def _valid_crc_frames(data: bytes) -> bool:
    """True if some line in data would pass the CRC (then it may legitimately act)."""
    for line in data.split(b"\n"):
        body, crc = frames.split_crc(line.rstrip(b"\r"))
        if crc is not None:
            try:
                if frames.crc_ok(body, crc):
                    return True
            except UnicodeError:
                pass
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_never_raise_nor_change_state(data):
    """Random bytes: no exception, nothing changes, buffers bounded."""
    b = Bench()
    before = b.snapshot()
    b.send(data + b"\n")
    assert b.snapshot() == before
    assert b.proto._len <= MAX_LINE


@settings(max_examples=400, deadline=None)
@given(mutated_frames())
def test_mutated_frames_never_act(frame):
    """A damaged therapy frame is refused and changes nothing (a mutation that keeps a valid CRC may act)."""
    b = Bench()
    before = b.snapshot()
    b.send(frame)
    if not _valid_crc_frames(frame):
        assert b.snapshot() == before


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), mutated_frames(), st.sampled_from(VALID)), max_size=60))
def test_memory_stays_bounded(chunks):
    """However much arrives, the line buffer and the event log stay within their bounds."""
    b = Bench()
    for c in chunks:
        b.send(c)
        b.tick(100)
    assert b.proto._len <= MAX_LINE
    assert len(b.proto.log) <= LOG_MAX and len(b.ctl.events) <= 64


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), mutated_frames(), st.sampled_from(VALID),
                          st.sampled_from((b"STATUS\n" * 40, b"LOG\n" * 30, b"\x01\n" * 200))), max_size=40))
def test_every_poll_stays_within_the_link_budget(chunks):
    """Whatever arrives, one poll writes at most OUTPUT_BYTES_PER_POLL_MAX and handles at most
    LINES_PER_POLL lines in full."""
    b = Bench()
    for c in chunks:
        b.vb.link.receive(c)
        before = len(b.vb.link.tx)
        b.proto.poll(b.vb.clock.now_ms())
        assert len(b.vb.link.tx) - before <= OUTPUT_BYTES_PER_POLL_MAX
        assert b.proto.lines_handled <= LINES_PER_POLL
        b.vb.link.tx = bytearray()
        b.tick(100)


BODIES = ("STATUS", "ID", "START", "STOP", "PAUSE", "RESUME", "ACK", "PROGRAM " + STANDARD,
          "PROGRAM " + STANDARD.replace("dose_ug_kg=500", "dose_ug_kg=800"), "CONFIRM fields=dose_ug_kg",
          "OCCLUSION level=low", "OCCLUSION level=high", "VITALS sbp=120 dbp=80 bp_id=2 hr=70 spo2=98",
          "TELEMETRY interval_ms=0", "TELEMETRY interval_ms=1000")


class RetryIdentity(RuleBasedStateMachine):
    """Any sequence of frames: a frame whose seq was already used never acts, and is answered
    only if it is the last accepted frame itself (same body, so same CRC), with that frame's
    stored answer; anything else under a used number is refused untagged."""

    def __init__(self) -> None:
        super().__init__()
        self.b = Bench()
        self.accepted = {}  # seq -> (body, answer) of the frame that consumed it
        self.last = 0

    @rule(body=st.sampled_from(BODIES), skip=st.integers(0, 3))
    def new_frame(self, body, skip):
        seq = self.last
        for _ in range(skip + 1):
            seq = frames.next_seq(seq)
        (ans,) = self.b.answers(self.b.framed(seq, body))
        assert ans.startswith("%d " % seq), ans
        self.accepted[seq] = (body, ans)
        self.last = seq

    @precondition(lambda self: self.accepted)
    @rule(data=st.data(), body=st.sampled_from(BODIES))
    def used_seq(self, data, body):
        seq = data.draw(st.sampled_from(sorted(self.accepted)))
        before, frames_before = self.b.snapshot(), self.b.proto.stats["frames"]
        answers = self.b.answers(self.b.framed(seq, body))
        assert self.b.snapshot() == before and self.b.proto.stats["frames"] == frames_before  # no second action
        first_body, first_answer = self.accepted[seq]
        if seq == self.last and body == first_body:
            assert answers == [first_answer]  # the true retry
        else:
            assert len(answers) == 1 and answers[0].startswith("- ERR SEQ_"), answers
            assert not [a for a in answers if a.startswith("%d " % seq)]

    @rule(ms=st.sampled_from((100, 1000, 5000)))
    def time_passes(self, ms):
        self.b.tick(ms)


TestRetryIdentity = RetryIdentity.TestCase
TestRetryIdentity.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
