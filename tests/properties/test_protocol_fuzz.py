"""Fuzzing the pump's parser: random bytes and mutated valid frames never raise, never change state
from an invalid frame, and never grow memory without bound."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware import frames
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
