"""The sim bus's wire format (both interpreters): every field checked at and past its limit,
and a board that stays in step whatever the length of a frame's payload."""

import io

from firmware.hal import simbus
from firmware.hal.simbus import IN_FIELDS, MAX_PAYLOAD_BYTES, OUT_FIELDS, BusError
from tests.firmware.checks import raises

TICK_ARGS = ("dt_ms", "force_raw", "force_samples", "switches")
REPLY_ARGS = ("position", "enabled", "state")


def _limits(fields, names):
    return [(i, f) for i, f in enumerate(fields) if f[0] in names]


def _tick(values):
    """pack_tick with IN_FIELDS' values (kind and n_rx come from the call itself)."""
    return simbus.pack_tick(values[1], values[2], values[3], values[4], b"")


def test_every_tick_field_round_trips_at_both_limits():
    """dt_ms, force_raw, force_samples and switches at their lowest and highest come back as sent."""
    for i, (name, low, high) in _limits(IN_FIELDS, TICK_ARGS):
        for v in (low, high):
            values = [simbus.TICK, 100, 0, 0, 3, 0]
            values[i] = v
            assert simbus.unpack_tick(_tick(values)[:simbus.IN_SIZE]) == tuple(values), name


def test_every_tick_field_past_its_limit_is_refused_by_name():
    """One past either end of a field is a BusError naming field, value and range, never a truncation."""
    for i, (name, low, high) in _limits(IN_FIELDS, TICK_ARGS):
        for v in (low - 1, high + 1):
            values = [simbus.TICK, 100, 0, 0, 3, 0]
            values[i] = v
            e = raises(BusError, _tick, values)
            assert ("%s = %d" % (name, v)) in str(e) and ("%d..%d" % (low, high)) in str(e), str(e)


def test_every_reply_field_at_and_past_its_limits():
    """position, enabled and state round-trip at their limits and are refused one past them."""
    for i, (name, low, high) in _limits(OUT_FIELDS, REPLY_ARGS):
        for v in (low, high, low - 1, high + 1):
            values = [simbus.REPLY, 0, 1, 3, 0]
            values[i] = v
            if low <= v <= high:
                frame = simbus.pack_reply(values[1], values[2], values[3], b"")
                assert simbus.unpack_reply(frame[:simbus.OUT_SIZE]) == tuple(values[1:]), name
            else:
                e = raises(BusError, simbus.pack_reply, values[1], values[2], values[3], b"")
                assert ("%s = %d" % (name, v)) in str(e), str(e)


def test_payload_lengths_at_and_past_the_limit():
    """A payload of exactly MAX_PAYLOAD_BYTES goes through both ways; one byte more is refused
    before anything is written (the old 16-bit field kept the low bits of 65,536 and more)."""
    full = bytes(MAX_PAYLOAD_BYTES)
    frame = simbus.pack_tick(100, 0, 0, 3, full)
    assert simbus.unpack_tick(frame[:simbus.IN_SIZE])[5] == MAX_PAYLOAD_BYTES and len(frame) == simbus.IN_SIZE + MAX_PAYLOAD_BYTES
    frame = simbus.pack_reply(0, 0, 0, full)
    assert simbus.unpack_reply(frame[:simbus.OUT_SIZE])[3] == MAX_PAYLOAD_BYTES
    over = full + b"x"
    assert "n_rx = %d" % (MAX_PAYLOAD_BYTES + 1) in str(raises(BusError, simbus.pack_tick, 100, 0, 0, 3, over))
    assert "n_tx = %d" % (MAX_PAYLOAD_BYTES + 1) in str(raises(BusError, simbus.pack_reply, 0, 0, 0, over))


def test_a_header_out_of_step_is_an_error_not_a_guess():
    """A header whose kind byte is wrong, or whose length is past the limit, is refused on reading."""
    good = simbus.pack_tick(100, 0, 0, 3, b"")
    assert "kind = 88" in str(raises(BusError, simbus.unpack_tick, b"X" + good[1:]))
    assert "kind = 84" in str(raises(BusError, simbus.unpack_reply, good[:simbus.OUT_SIZE]))
    huge = good[:simbus.IN_SIZE - 4] + b"\xff\xff\xff\x7f"
    assert "n_rx" in str(raises(BusError, simbus.unpack_tick, huge))


def test_the_board_stays_in_step_after_a_frame_past_the_old_16_bit_length():
    """A 70,000-byte line typed in one tick, then an ID and quiet ticks: the board reads every
    frame whole, answers each with one reply, refuses the long line and answers the ID."""
    burst = b"Z" * 69999 + b"\n"
    frames = [simbus.pack_tick(100, 12600, 8, 3, burst), simbus.pack_tick(100, 12600, 16, 3, b"ID\n")]
    frames += [simbus.pack_tick(100, 12600, 24 + 8 * i, 3, b"") for i in range(1000)]
    stdout = io.BytesIO()
    simbus.serve("boards/VIRTUAL/board.json", stdin=io.BytesIO(b"".join(frames) + simbus.pack_quit()), stdout=stdout)
    out = memoryview(stdout.getvalue())
    replies = []
    while out:
        position, enabled, state, n_tx = simbus.unpack_reply(bytes(out[:simbus.OUT_SIZE]))
        replies.append(bytes(out[simbus.OUT_SIZE:simbus.OUT_SIZE + n_tx]))
        out = out[simbus.OUT_SIZE + n_tx:]
    assert len(replies) == len(frames)
    text = b"".join(replies)
    assert b"LINE_TOO_LONG" in text and b"- OK ID" in text
