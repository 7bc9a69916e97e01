"""The operator protocol on the pump side: reads the link, answers commands, reports events.

See docs/protocol.md. The parser never raises on what arrives: an overlong line, binary noise,
a bad CRC, an old sequence number or half a frame is answered with an ERR (or dropped),
counted, and changes nothing. The last accepted frame sent again (same seq, same CRC) gets the
stored answer without acting twice, so a host may retry after a lost answer; another frame
with that seq is refused. Input is bounded by a fixed line buffer, and each poll by the link
budget (firmware/link_budget.py): past it only framed therapy commands are handled.
"""

import sys

from firmware import FIRMWARE_VERSION, alarms, events, frames
from firmware.controller import STATE_NAMES
from firmware.datafile import build_id
from firmware.errors import BAD_VALUE, Rejected
from firmware.link_budget import ANSWER_BYTES_PER_POLL, LINES_PER_POLL, READ_BYTES_PER_POLL

MAX_LINE = 240  # bytes of a line, not counting the CR LF that ends it
READ_CHUNK = 64  # bytes per link read (the last read of a poll is cut to the budget)
LOG_MAX = 512  # events kept for LOG; older ones are dropped from RAM (the journal keeps them)
LOG_PAGE = 8

READ_ONLY = ("ID", "STATUS", "STATS", "LOG", "HELP")
THERAPY = ("PROGRAM", "CONFIRM", "START", "PAUSE", "RESUME", "STOP", "ACK", "OCCLUSION", "VITALS", "TELEMETRY",
           "SELFTEST", "PATIENT", "SERVICE")
COMMANDS = READ_ONLY + THERAPY
STAT_KEYS = ("frames", "bad_frame", "crc", "too_long", "seq_order", "seq_reused", "retries", "rejected", "shed")


class FrameError(Exception):
    """A line refused before it reaches a command: the ERR code, field, value, allowed and the
    STATS key that counts it."""

    def __init__(self, code: str, field: str, value: str, allowed: str, stat: str) -> None:
        super().__init__(code)
        self.code = code
        self.field = field
        self.value = value
        self.allowed = allowed
        self.stat = stat


def runtime() -> str:
    """The interpreter and port the firmware runs on, e.g. micropython-1.28.0-rp2: a board
    flashed with another MicroPython says so in ID."""
    impl = sys.implementation
    v = impl.version
    return "%s-%d.%d.%d-%s" % (impl.name, v[0], v[1], v[2], sys.platform)


class Protocol:
    def __init__(self, controller, link, telemetry_ms: int = 1000) -> None:
        self.ctl = controller
        self.link = link
        self.telemetry_ms = telemetry_ms
        self.build = build_id()  # read once at boot, not in the loop
        self._line = bytearray(MAX_LINE + 1)  # + the CR of a CR LF
        self._len = 0
        self._overflow = False
        self._chunk = bytearray(READ_CHUNK)
        self._chunk_view = memoryview(self._chunk)
        self.last_seq = controller.journal.link_seq  # a reset continues after every frame accepted before it
        self._last_crc = b""  # identity of the last accepted frame: a retry must match it
        self._last_answer = b""
        self._lines_left = LINES_PER_POLL  # this poll's budget (docs/protocol.md)
        self._answer_left = ANSWER_BYTES_PER_POLL
        self.lines_in = 0  # complete lines the last poll took from the link (empty ones aside)
        self.lines_handled = 0  # of them, handled in full within the budget
        self.lines_shed = 0  # left unanswered for the budget
        self.stats = {}
        for k in STAT_KEYS:
            self.stats[k] = 0
        self.log = []  # (t_ms, kind name, value text): the journal's events first, then new ones
        self.log_base = 0  # event index of log[0]
        for _seq, t_ms, kind, value in controller.recovered_events:
            self._log(t_ms, "j." + kind, _clean(str(value), 40) or "-")
        self._last_tel_ms = None

    # ---- input -------------------------------------------------------------------------
    def poll(self, now_ms: int) -> None:
        """Serve the link within one tick's budget (firmware/link_budget.py), then report events
        and telemetry. Bytes past the read budget stay in the link for the next poll."""
        self._lines_left = LINES_PER_POLL
        self._answer_left = ANSWER_BYTES_PER_POLL
        self.lines_in = 0
        self.lines_handled = 0
        self.lines_shed = 0
        read = 0
        while read < READ_BYTES_PER_POLL:
            left = READ_BYTES_PER_POLL - read
            n = self.link.read(self._chunk if left >= READ_CHUNK else self._chunk_view[:left])
            if n <= 0:
                break
            read += n
            chunk = self._chunk
            for i in range(n):
                self._feed(chunk[i])
        if self.lines_shed:
            self.link.write(self._err_line("-", "BUSY", "lines", str(self.lines_shed), "%d/tick" % LINES_PER_POLL))
            self.stats["rejected"] -= 1  # counted under "shed"
        self._report_events()
        self._telemetry(now_ms)

    def _feed(self, byte: int) -> None:
        if byte == 10:  # newline ends a line
            self._end_line()
            return
        if self._overflow:
            return
        if self._len >= MAX_LINE and not (byte == 13 and self._len == MAX_LINE):  # a CR before LF is not content
            self._overflow = True
            return
        self._line[self._len] = byte
        self._len += 1

    def _end_line(self) -> None:
        n, overflow = self._len, self._overflow
        self._len = 0
        self._overflow = False
        if not overflow and (n == 0 or (n == 1 and self._line[0] == 13)):
            return  # an empty line costs nothing and counts toward nothing
        self.lines_in += 1
        overloaded = self._lines_left <= 0 or self._answer_left <= 0
        if not overloaded:
            self._lines_left -= 1
            self.lines_handled += 1
        if overflow:
            self._refuse(FrameError("LINE_TOO_LONG", "line", "-", "%d bytes" % MAX_LINE, "too_long"), overloaded)
        elif overloaded and not self._may_be_frame(n):
            self._shed()  # cannot be a framed command: not worth a copy nor a parse
        else:
            self.handle_line(bytes(self._line[:n]), overloaded)

    def _may_be_frame(self, n: int) -> bool:
        """A seq digit first and " *" ten bytes from the end (before a CR): the shape of a frame."""
        line = self._line
        if line[n - 1] == 13:
            n -= 1
        return n >= 13 and 48 <= line[0] <= 57 and line[n - 10] == 32 and line[n - 9] == 42

    def handle_line(self, line: bytes, overloaded: bool = False) -> None:
        """Parse, check and act on one line. Overloaded (this poll's budget spent), only a framed
        therapy command with a valid CRC goes on; any other line is shed: counted, not answered."""
        if line and line[-1] == 13:
            line = line[:-1]
        if not line:
            return
        try:
            seq, cmd, args, crc = _parse(line)
        except FrameError as e:
            self._refuse(e, overloaded)
            return
        if overloaded and cmd not in THERAPY:
            self._shed()
            return
        if crc is not None:  # only a CRC-checked frame may consume a sequence number
            if seq == self.last_seq and self._last_answer:
                self._retry(seq, crc, overloaded)
                return
            if not frames.seq_after(seq, self.last_seq):
                self._refuse(FrameError("SEQ_ORDER", "seq", str(seq), str(frames.next_seq(self.last_seq)), "seq_order"), overloaded)
                return
        self.stats["frames"] += 1
        if crc is not None:
            self.ctl.journal.accept_link_seq(seq)  # durable before it acts; see the journal for the flash cost
        answer = self._dispatch(seq, cmd, args)
        if crc is not None:
            self.last_seq = seq
            self._last_crc = crc
            self._last_answer = answer
        self._answer(answer)

    def _retry(self, seq: int, crc: bytes, overloaded: bool) -> None:
        """The frame with the last accepted seq again: the same frame (same CRC) is a retry and gets
        the stored answer; another frame with that seq is refused, so it can neither act nor be
        taken for the earlier command's answer."""
        if crc != self._last_crc:
            self._refuse(FrameError("SEQ_REUSED", "seq", str(seq), str(frames.next_seq(seq)), "seq_reused"), overloaded)
            return
        self.stats["retries"] += 1
        self._answer(self._last_answer)

    def _shed(self) -> None:
        self.stats["shed"] += 1
        self.lines_shed += 1

    def _answer(self, data: bytes) -> None:
        """An answer is written while this poll's answer budget lasts. A therapy frame handled past
        it has acted and its answer is the stored one, which the host's retry gets."""
        if self._answer_left <= 0:
            self._shed()
            return
        self._answer_left -= len(data)
        self.link.write(data)

    # ---- commands ----------------------------------------------------------------------
    def _dispatch(self, seq, cmd: str, args) -> bytes:
        tag = "-" if seq is None else str(seq)
        if cmd not in COMMANDS:
            return self._err_line(tag, "UNKNOWN_COMMAND", "command", cmd, ",".join(COMMANDS))
        try:
            kv = frames.parse_pairs(args)
        except ValueError as e:
            return self._err_line(tag, BAD_VALUE, "token", str(e), "key=value")
        try:
            pairs = getattr(self, "_cmd_" + cmd.lower())(kv)
        except Rejected as e:
            return self._err_line(tag, e.code, e.field, str(e.value), e.allowed)
        return frames.seal("%s OK %s %s" % (tag, cmd, frames.format_pairs(pairs)))

    def _only(self, kv: dict, allowed: tuple) -> None:
        for k in kv:
            if k not in allowed:
                raise Rejected(BAD_VALUE, k, kv[k], ",".join(allowed) if allowed else "no keys")

    def _cmd_id(self, kv):
        self._only(kv, ())
        c = self.ctl
        return (("fw", FIRMWARE_VERSION), ("build", self.build), ("runtime", runtime()), ("board", c.board.name),
                ("library", c.library.version), ("syringes", c.syringes.version), ("last_seq", self.last_seq))

    def _cmd_help(self, kv):
        return (("commands", ",".join(COMMANDS)),)

    def _cmd_status(self, kv):
        self._only(kv, ())
        c = self.ctl
        p = c.program
        return (("state", c.state_name()), ("t_ms", c.now_ms), ("alarm", alarms.name(c.alarm_code) if c.alarm_code else "NONE"),
                ("steps", c.delivered_steps()), ("total_steps", p.total_steps if p else 0),
                ("delivered_nl", c.delivered_nl()), ("volume_nl", p.volume_nl if p else 0),
                ("rate_nl_h", p.rate_nl_h if p else 0), ("remaining_ms", c.plan.remaining_ms() if c.plan else (p.duration_ms if p else 0)),
                ("force_mn", c.force_mn()), ("pressure_mmhg", c.pressure_mmhg()),
                ("alarm_pressure_mmhg", c.pressure_mmhg(c.alarm_force_raw) if c.alarm_code else 0),
                ("occlusion", c.occlusion_level), ("service", "on" if c.service_state.active else "off"))

    def _cmd_stats(self, kv):
        return tuple([(k, self.stats[k]) for k in STAT_KEYS])

    def _cmd_log(self, kv):
        self._only(kv, ("from",))
        start = kv.get("from", 0)
        if not isinstance(start, int) or start < 0:
            raise Rejected(BAD_VALUE, "from", start, "0..%d" % (self.log_base + len(self.log)))
        first = max(start, self.log_base)
        items = self.log[first - self.log_base: first - self.log_base + LOG_PAGE]
        text = ",".join(["%d:%s:%s" % item for item in items])
        return (("from", first), ("next", first + len(items)), ("events", text or "-"))

    def _cmd_program(self, kv):
        p = self.ctl.program_prescription(kv)
        return (("state", self.ctl.state_name()), ("total_ug", p.total_ug), ("volume_nl", p.volume_nl),
                ("rate_nl_h", p.rate_nl_h), ("duration_ms", p.duration_ms), ("total_steps", p.total_steps),
                ("soft", ",".join(p.soft_fields) or "-"))

    def _cmd_confirm(self, kv):
        self._only(kv, ("fields",))
        fields = kv.get("fields", "")
        self.ctl.confirm([f for f in str(fields).split(",") if f])
        return (("state", self.ctl.state_name()),)

    def _simple(self, kv, action):
        self._only(kv, ())
        action()
        return (("state", self.ctl.state_name()),)

    def _cmd_start(self, kv):
        return self._simple(kv, self.ctl.start)

    def _cmd_pause(self, kv):
        return self._simple(kv, self.ctl.pause)

    def _cmd_resume(self, kv):
        return self._simple(kv, self.ctl.resume)

    def _cmd_stop(self, kv):
        return self._simple(kv, self.ctl.stop)

    def _cmd_ack(self, kv):
        self._only(kv, ())
        code = self.ctl.alarm_code
        self.ctl.acknowledge()
        return (("state", self.ctl.state_name()), ("alarm", alarms.name(code)))

    def _cmd_occlusion(self, kv):
        self._only(kv, ("level",))
        threshold = self.ctl.set_occlusion_level(kv.get("level", ""))
        return (("level", self.ctl.occlusion_level), ("threshold_mmhg", threshold))

    def _cmd_patient(self, kv):
        self._only(kv, ("weight_g", "was_g"))
        self.ctl.reidentify_patient(kv.get("weight_g"), kv.get("was_g"))
        return (("state", self.ctl.state_name()), ("weight_g", kv["weight_g"]))

    def _cmd_vitals(self, kv):
        self.ctl.report_vitals(kv)  # firmware/vitals.py names unknown keys and missing readings
        return (("state", self.ctl.state_name()),)

    def _cmd_selftest(self, kv):
        """The power-on self-test (moves the motor a little, dry): idle, no syringe loaded."""
        from firmware.selftest import run_selftest

        self._only(kv, ())
        if self.ctl.state_name() != "idle":
            raise Rejected(BAD_VALUE, "state", self.ctl.state_name(), "idle")
        results = run_selftest(self.ctl, getattr(self.ctl.hal, "wait_ms", None))
        passed = True
        for _name, ok, _detail in results:
            passed = passed and ok
        return (("result", "pass" if passed else "fail"),) + tuple([(name, "ok" if ok else "fail") for name, ok, _ in results])

    def _cmd_service(self, kv):
        """SERVICE action=enter|leave|flash (firmware/service.py)."""
        self._only(kv, ("action",))
        self.ctl.service_state.act(str(kv.get("action", "")), self.ctl.state_name())
        s = self.ctl.service_state
        return (("service", "on" if s.active else "off"), ("loop", "stopped" if s.loop_stopped else "running"))

    def _cmd_telemetry(self, kv):
        self._only(kv, ("interval_ms",))
        ms = kv.get("interval_ms")
        if not isinstance(ms, int) or not (ms == 0 or 100 <= ms <= 3600000):
            raise Rejected(BAD_VALUE, "interval_ms", ms, "0 or 100..3600000")
        self.telemetry_ms = ms
        return (("interval_ms", ms),)

    # ---- output ------------------------------------------------------------------------
    def _err_line(self, tag: str, code: str, field: str, value: str, allowed: str) -> bytes:
        self.stats["rejected"] += 1
        return frames.seal("%s ERR %s field=%s value=%s allowed=%s" % (tag, code, field, _clean(str(value)) or "-", _clean(allowed, 120) or "-"))

    def _refuse(self, e, overloaded: bool) -> None:
        """A frame error: counted under its own key, answered untagged (its seq cannot be trusted,
        or is not the host's to reuse) unless the poll is overloaded."""
        self.stats[e.stat] += 1
        if overloaded:
            self._shed()
            return
        self._answer(self._err_line("-", e.code, e.field, e.value, e.allowed))
        self.stats["rejected"] -= 1  # _err_line counts command rejections; this one is a frame error

    def _report_events(self) -> None:
        ring = self.ctl.events
        while len(ring):
            kind, value, t = ring.pop()
            name, text = events.KIND_NAMES.get(kind, "?"), _event_value(kind, value)
            self._log(t, name, text)
            self.link.write(frames.seal("! EVT t_ms=%d kind=%s value=%s" % (t, name, text)))

    def _log(self, t_ms: int, kind: str, value: str) -> None:
        self.log.append((t_ms, kind, value))
        if len(self.log) > LOG_MAX:
            self.log.pop(0)
            self.log_base += 1

    def _telemetry(self, now_ms: int) -> None:
        if self.telemetry_ms <= 0:
            return
        if self._last_tel_ms is not None and self.ctl.hal.clock.diff_ms(now_ms, self._last_tel_ms) < self.telemetry_ms:
            return
        self._last_tel_ms = now_ms
        c = self.ctl
        rate = c.program.rate_nl_h if (c.program and c.state_name() == "running") else 0
        self.link.write(frames.seal("! TEL t_ms=%d state=%s steps=%d delivered_nl=%d force_mn=%d pressure_mmhg=%d rate_nl_h=%d"
                                    % (now_ms, c.state_name(), c.delivered_steps(), c.delivered_nl(), c.force_mn(),
                                       c.pressure_mmhg(), rate)))


def _parse(line: bytes) -> tuple:
    """(seq or None, COMMAND, argument tokens, crc text or None) of a line without its newline;
    raises FrameError for a line that must not reach a command."""
    for b in line:
        if b < 32 or b > 126:
            raise FrameError("BAD_FRAME", "line", "-", "printable ASCII", "bad_frame")
    body, crc = frames.split_crc(line)
    if crc is not None and not frames.crc_ok(body, crc):
        raise FrameError("CRC", "crc", crc.decode(), "crc32 of the line", "crc")
    tokens = body.decode().split(" ")
    seq = None
    if tokens[0].isdigit():
        seq = int(tokens[0])
        tokens = tokens[1:]
        if not 1 <= seq < frames.SEQ_MODULO:
            raise FrameError("BAD_FRAME", "seq", str(seq), "1..65535", "bad_frame")
    if not tokens or not tokens[0]:
        raise FrameError("BAD_FRAME", "command", "-", "a command", "bad_frame")
    cmd = tokens[0].upper()
    if cmd in THERAPY and (crc is None or seq is None):
        raise FrameError("CRC_REQUIRED", "command", cmd, "seq and crc on therapy commands", "bad_frame")
    if crc is not None and seq is None:
        raise FrameError("BAD_FRAME", "seq", "-", "a sequence number on a framed command", "bad_frame")
    return seq, cmd, tokens[1:], crc


def _event_value(kind: int, value: int) -> str:
    if kind == events.STATE:
        return STATE_NAMES[value]
    if kind in (events.ALARM, events.ACK, events.WARNING):
        return alarms.name(value)
    return str(value)


def _clean(text: str, limit: int = 60) -> str:
    """Values echoed back must not break the line format (nor grow it without bound)."""
    out = []
    for ch in text[:limit]:
        out.append(ch if "!" <= ch <= "~" and ch != "*" else "?")
    return "".join(out)
