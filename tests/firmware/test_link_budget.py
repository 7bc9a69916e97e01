"""The link budget per tick: a burst of input never makes one poll read, handle or write more
than firmware/link_budget.py allows, the pump answers afterwards, and a therapy frame inside
the burst is acted on (both interpreters)."""

from firmware import alarms, events, frames
from firmware.controller import IDLE, RUNNING
from firmware.hal.virtual import VirtualLink
from firmware.journal import EVENT_VALUE_KEYS
from firmware.link_budget import (ANSWER_BYTES_PER_POLL, ASYNC_LINE_MAX_BYTES, LINE_OUT_MAX_BYTES, LINES_PER_POLL,
                                  LINK_BUFFER_BYTES, OUTPUT_BYTES_PER_POLL_MAX, READ_BYTES_PER_POLL)
from tests.firmware.protocol_fixture import STANDARD, Bench

UART_BYTES_PER_TICK = 115200 // 10 // 10  # 115200 baud, 8N1, one 100 ms tick
BURST_LINES = 10000


class CountingLink:
    """The virtual board's link (VirtualLink, which models a MicroPython UART), counting what
    each poll takes from it and writes to it."""

    def __init__(self, link: VirtualLink) -> None:
        self.link = link
        self.read_bytes = 0
        self.written_bytes = 0

    def read(self, buf) -> int:
        n = self.link.read(buf)
        self.read_bytes += n
        return n

    def write(self, data: bytes) -> None:
        self.written_bytes += len(data)
        self.link.write(data)


def _running_bench():
    b = Bench()
    b.framed(1, "PROGRAM " + STANDARD)
    b.framed(2, "START")
    assert b.ctl.state == RUNNING
    counting = CountingLink(b.vb.link)
    b.proto.link = counting
    return b, counting


def _burst(stop_at: int) -> bytes:
    """10,000 lines as a runaway host or a pasted file would send them: typed STATUS (the most
    expensive answer), junk, framed read-only frames, bad CRCs; a valid STOP at stop_at."""
    kinds = (b"STATUS\n", b"X\n", frames.seal("1 STATUS"), b"3 STOP *00000000\n", b"\x00\xff\n")
    out = bytearray()
    for i in range(BURST_LINES):
        out.extend(frames.seal("3 STOP") if i == stop_at else kinds[i % len(kinds)])
    return bytes(out)


def _serve(b, counting, data: bytes, wire) -> list:
    """Feed data through `wire(link, data, pos) -> bytes taken`, one poll and one control tick per
    100 ms, until all of it has been offered and the link is empty. Returns per-poll figures."""
    link = b.vb.link
    pos = 0
    polls = []
    while pos < len(data) or link.room() < link.capacity:
        if pos < len(data):
            pos += wire(link, data, pos)
        counting.read_bytes = counting.written_bytes = 0
        b.vb.advance(100)
        b.proto.poll(b.vb.clock.now_ms())
        b.ctl.tick(b.vb.clock.now_ms())
        out = bytes(link.tx)
        link.tx = bytearray()
        polls.append((counting.read_bytes, counting.written_bytes, b.proto.lines_handled, b.proto.lines_in, out))
        assert len(polls) < 10000, "the link never drained"
    return polls


def _uart_wire(link, data: bytes, pos: int) -> int:
    """115200 baud: a tick's worth of bytes arrives, whatever the pump does with it."""
    chunk = data[pos:pos + UART_BYTES_PER_TICK]
    link.receive(chunk)
    return len(chunk)


def _flow_controlled_wire(link, data: bytes, pos: int) -> int:
    """USB CDC: the host sends as fast as it likes but only what the device has room for."""
    return link.receive(data[pos:pos + link.room()])


def _one_write(link, data: bytes, pos: int) -> int:
    """All of it at once, faster than any wire: what the link cannot hold is lost."""
    link.receive(data)
    return len(data)


def _assert_within_budget(polls) -> None:
    for read, written, handled, _lines, out in polls:
        assert read <= READ_BYTES_PER_POLL, read
        assert handled <= LINES_PER_POLL, handled
        assert written <= OUTPUT_BYTES_PER_POLL_MAX, written
        answers = [line for line in out.split(b"\n") if line and not line.startswith(b"!")]
        assert sum([len(line) + 1 for line in answers]) <= ANSWER_BYTES_PER_POLL + LINE_OUT_MAX_BYTES + 100, out


def _answers_afterwards(b) -> None:
    (ans,) = b.answers(b.send(b"STATUS\n"))
    assert ans.startswith("- OK STATUS state=idle")
    (ans,) = b.answers(b.framed(4, "STATUS"))
    assert ans.startswith("4 OK STATUS")


def test_burst_at_uart_line_rate_stays_within_budget_and_keeps_the_stop():
    """10,000 lines at 115200 baud: no poll over budget, no byte lost, the STOP in the middle acts."""
    b, counting = _running_bench()
    polls = _serve(b, counting, _burst(stop_at=5003), _uart_wire)
    _assert_within_budget(polls)
    assert b.vb.link.overrun == 0  # the pump drains the UART faster than it fills
    assert sum([p[3] for p in polls]) == BURST_LINES  # every line arrived and was seen
    assert b.ctl.state == IDLE and b.proto.last_seq == 3
    assert b.proto.stats["shed"] > 0
    _answers_afterwards(b)


def test_flow_controlled_burst_loses_nothing_and_keeps_the_stop():
    """USB CDC holds what the pump has not read: all 10,000 lines are seen, the STOP acts."""
    b, counting = _running_bench()
    polls = _serve(b, counting, _burst(stop_at=9001), _flow_controlled_wire)
    _assert_within_budget(polls)
    assert sum([p[3] for p in polls]) == BURST_LINES
    assert b.ctl.state == IDLE and b.proto.last_seq == 3
    busy = [line for p in polls for line in p[4].split(b"\n") if line.startswith(b"- ERR BUSY")]
    assert busy and len(busy) <= len(polls)
    _answers_afterwards(b)


def test_burst_faster_than_the_link_overruns_it_and_the_pump_recovers():
    """The whole burst in one write (faster than any wire): the link keeps what it holds and
    counts the rest; the pump stays within budget and answers afterwards."""
    b, counting = _running_bench()
    data = _burst(stop_at=3)
    polls = _serve(b, counting, data, _one_write)
    _assert_within_budget(polls)
    assert b.vb.link.overrun == len(data) - LINK_BUFFER_BYTES
    assert b.ctl.state == IDLE  # the STOP was among the bytes the link held
    cut = b.answers(b.send(b"\n"))  # the line the overrun cut short ends here: refused, or shed
    assert len(cut) <= 1 and (not cut or " ERR " in cut[0])
    _answers_afterwards(b)


def test_stop_past_the_budget_is_acted_on_and_its_retry_answered():
    """Eight typed lines spend the budget; a STOP after them still acts, and its answer is the
    stored one that the host's retry gets."""
    b, _counting = _running_bench()
    answers = b.answers(b.send(b"STATUS\n" * LINES_PER_POLL + b"HELP\n" + frames.seal("3 STOP")))
    assert b.ctl.state == IDLE and b.proto.lines_handled < LINES_PER_POLL  # the answer bytes ran out first
    assert answers[-1].startswith("- ERR BUSY field=lines value=")
    assert not [a for a in answers if a.startswith("3 ")]  # acted, its answer withheld
    (ans,) = b.answers(b.framed(3, "STOP"))
    assert ans == "3 OK STOP state=idle" and b.proto.stats["retries"] == 1


def test_line_budget_binds_when_answers_are_short():
    """Twenty noise lines (short refusals): eight are answered, the rest shed with one BUSY note."""
    b, _counting = _running_bench()
    answers = b.answers(b.send(b"\x01\n" * 20))
    assert b.proto.lines_handled == LINES_PER_POLL and b.proto.lines_shed == 20 - LINES_PER_POLL
    assert len(answers) == LINES_PER_POLL + 1
    assert answers[-1] == "- ERR BUSY field=lines value=%d allowed=%d/tick" % (20 - LINES_PER_POLL, LINES_PER_POLL)
    assert b.proto.stats["bad_frame"] == LINES_PER_POLL and b.proto.stats["shed"] == 20 - LINES_PER_POLL
    assert b.ctl.state == RUNNING  # shed lines are not even parsed


def test_read_budget_leaves_the_rest_in_the_link():
    """One poll takes at most READ_BYTES_PER_POLL bytes; the next poll goes on from there."""
    b, counting = _running_bench()
    b.vb.link.receive(b"\n" * LINK_BUFFER_BYTES)
    b.proto.poll(b.vb.clock.now_ms())
    assert counting.read_bytes == READ_BYTES_PER_POLL and b.vb.link.room() == READ_BYTES_PER_POLL
    b.vb.link.tx = bytearray()
    (ans,) = b.answers(b.send(b"STATUS\n"))
    assert ans.startswith("- OK STATUS")


def test_link_buffer_is_bounded_and_counts_overrun():
    """The virtual link holds LINK_BUFFER_BYTES, like a UART's rxbuf; more is lost and counted."""
    link = VirtualLink()
    assert link.receive(b"a" * (LINK_BUFFER_BYTES + 10)) == LINK_BUFFER_BYTES
    assert link.overrun == 10 and link.room() == 0
    buf = bytearray(64)
    assert link.read(buf) == 64 and link.room() == 64
    assert link.receive(b"b" * 100) == 64 and link.overrun == 46


def test_longest_log_page_and_event_line_fit_their_bounds():
    """The bound on one poll's output rests on these: a LOG page of 8 of the longest events fits
    LINE_OUT_MAX_BYTES, an event line with the longest names ASYNC_LINE_MAX_BYTES."""
    b = Bench()
    kind = "j." + max(list(EVENT_VALUE_KEYS), key=len)
    b.proto.log = [((1 << 30) - 1, kind, "v" * 40)] * 8  # journal values are cut to 40 characters
    b.proto.log_base = 999999999
    (page,) = b.send(frames.seal("32767 LOG from=999999999"))
    assert page.startswith(b"32767 OK LOG") and len(page) + 1 <= LINE_OUT_MAX_BYTES
    name = max([alarms.name(code) for code in alarms.NAMES], key=len)
    b.ctl.events.push(events.WARNING, [code for code in alarms.NAMES if alarms.name(code) == name][0], (1 << 30) - 1)
    (line,) = b.send(b"")
    assert line.startswith(b"! EVT") and len(line) + 1 <= ASYNC_LINE_MAX_BYTES
