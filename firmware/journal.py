"""The journal: the pump's power-loss-safe memory of what it was told and what it delivered.

Power can go at any moment: a mains lead pulled mid-infusion, a flat battery, a watchdog
reset. At power-on the pump must know, from flash alone, the last prescription, whether an
infusion was under way, how much it had delivered (never less than the truth, so the
remaining dose is never over-stated), the last alarm and whether it was acknowledged.
Example: 0.5 mg/kg for 70 kg runs 25 min and the lead is pulled; at power-on `power_on()`
reports the infusion as interrupted, with a delivered count never below what the 25 min
really delivered and at most one progress interval above it, and the pump waits for the
operator. It never resumes on its own: the journal only reports.

Record format. One ASCII line per record, framed like the operator protocol (firmware.frames),
each written with an empty line before it, so no single flipped bit can merge two records:

    \\n<seq> <t_ms> <kind> key=value ... *<crc32 of every byte before " *", 8 hex digits>\\n

    seq    1, 2, 3 ... over the journal's life, carried across compaction
    t_ms   ms since the journal's first record, counting powered-on time only (each power-on
           continues from the last record), so it never exceeds the real elapsed time
    w=     optional on any record: wall-clock seconds (UNIX time) at t_ms; it anchors wall
           time for the records after it, until the next boot record

    kind    keys                        meaning
    boot    r= [d=] [w=]                power-on: reset cause; d= the delivered bound of an
                                        infusion left open (the motor has been off since)
    clock   w=                          the wall clock was set
    rx      the entered fields          the prescription as entered (drug=ketamine ...)
    start   n= u= sp= g=                infusion started: total steps, total ug, the most
                                        steps any commitment may run ahead of the count, and
                                        the patient's body weight (the dose belongs to them);
                                        u=0 g=0 for water on a bench: no drug, no patient
    prog    d= c=                       progress: steps counted so far, steps committed
    pause   d=                          motor halted; d= steps counted after the halt
    resume  d= c=                       motor restarted
    alarm   a= [d=]                     alarm code; d= steps counted after the halt
    ack     a=                          alarm acknowledged
    stop    [d=]                        infusion ended by the operator (or program discarded)
    done    d=                          infusion complete
    patient g= was=                     the operator re-identified the patient: another person
                                        (or weight) from now on; the doses before no longer
                                        count towards this patient's 24 h maximum
    set     <setting>=<value>           a safety setting chosen over the link (occlusion=low)
    seq     q=                          operator frames up to sequence number q may have been
                                        accepted: after a reset the link continues after q
    snap    state (see compact())       written only by compaction

    e.g. `57 1203400 prog d=8800 c=9450 *272ca7dd` is 41 bytes with its two newlines. A
    progress record takes 28-50 bytes in a day's journal (about 47 late in a long infusion:
    a 16 KB journal holds ~350 of them, 29 min at one per 5 s), an event 26-45, a start
    about 60, a seq or set record 30-45, a prescription about 145, a snapshot 180-780.

Delivery is recorded so that a cut at any instant errs on the safe side. The commitment `c`
is written BEFORE the motor may go past the previous one: the controller calls `progress()`
with the steps it will have issued by the next progress call (at most `sp` ahead of the count),
and its tick never commands more than `committed_steps`. So at any instant delivered <= the
last durable `c`, and replay reports `c` for a running infusion: never below the truth, at
most one span above it. `start()` writes the start record and then the first commitment as
a prog record, so a start that did not reach flash never let the motor move. Records written
with the motor halted (pause, alarm, stop, done) carry the counted steps and tighten the bound
to the exact count.

Damage. A power cut mid-append leaves a partial last line: replay ignores it (`torn_tail`)
and `power_on()` closes it with "~\\n" before its boot record, so a line ending in "~" is a
repaired torn record (`torn_records`), never acted on, since the controller only moves on an
append that returned. Any other line that fails its CRC (a flipped bit) is skipped and counted
in `bad_records`; inside an open infusion it widens the delivered bound by one span, since it
may have been a lost commitment. Later good records supersede that margin. (A damaged start
record loses that infusion's totals: its dose reads as unknown, see ug_last_24h().)

The patient and the daily maximum. Each start record carries the patient's weight, so the
doses of the last 24 h name whom they were given to (`patient_g()`: the first recorded). A
prescription for another weight is another patient or a corrected identity, which the
operator must confirm; that confirmation is the `patient` record, and only from there on do
the earlier doses stop counting. Settings (`set`) and the link's reserved sequence number
(`seq`) are state like the rest: replay keeps the latest and compaction writes them into the
snapshot, so neither a power cut nor a compaction loses them.

Compaction. When the file grows past `max_bytes` the journal writes a new file holding the
prescription record, the last `keep_events` event records (verbatim) and the recovered state
as two identical `snap` records (one flipped bit cannot spoil both), and swaps it in with
`storage.replace()`, which must be atomic (firmware.hal.file_storage writes a temporary file
and renames it over the old one). A cut during compaction leaves the old file whole, so
nothing is lost. The compacted file is about 3-4 KB with the defaults (64 events of ~40 bytes,
two snapshots of at most ~780); the next compaction comes at `max_bytes` (16 KB), or a
quarter of `max_bytes` later if keep_events and long prescriptions make the snapshot larger.
"""

from firmware import frames
from firmware.compat import const

DAY_MS = const(86400000)
DAY_S = const(86400)
MAX_PAST_DOSES = const(16)  # finished infusions kept for the cumulative limit; older merge
MIN_MAX_BYTES = const(1024)
# Sequence numbers reserved ahead of the operator link's latest frame (see accept_link_seq()).
LINK_SEQ_AHEAD = const(256)

# Kinds that appear in the event log, with the key that gives their value.
EVENT_VALUE_KEYS = {"boot": "r", "clock": "w", "rx": None, "start": "n", "pause": "d", "resume": "d",
                    "alarm": "a", "ack": "a", "stop": "d", "done": "d", "patient": "g", "set": None}
_WALL_KEY = "w"
_SETTING_PREFIX = "s_"  # a setting's key in a snapshot
_TORN_MARK = const(126)  # "~": no single flipped bit turns a hex digit or a newline into it
_REPAIR = b"~\n"


class Session:
    """One infusion, from its start record: totals, counted steps and the delivered bound."""

    def __init__(self, start_seq: int, start_t_ms: int, total_steps: int, total_ug: int, weight_g=None) -> None:
        self.start_seq = start_seq
        self.start_t_ms = start_t_ms
        self.total_steps = total_steps  # 0 when the start record was lost
        self.total_ug = total_ug
        self.weight_g = weight_g  # the patient's, as entered; None when the start record was lost
        self.counted_steps = 0  # last count recorded: a lower bound of delivery
        self.delivered_steps = 0  # upper bound: never below the steps really delivered
        self.span_steps = 0  # most a commitment may run ahead of the count: one interval
        self.moving = False  # the motor may have been running when the record stream ended
        self.open = True  # not stopped or completed
        self.interrupted = False  # a power-on found it with the motor possibly running
        self.earlier_patient = False  # given to the patient before a re-identification
        self.end_t_ms = start_t_ms  # last activity
        self.end_wall_s = None

    def delivered_ug(self):
        """Upper bound of the drug delivered (rounded up); None when the totals were lost."""
        if self.total_steps <= 0:
            return None
        return -(-self.delivered_steps * self.total_ug // self.total_steps)

    def commit(self, counted: int, committed: int) -> None:
        self._count(counted)
        self.delivered_steps = committed if committed > self.counted_steps else self.counted_steps
        if committed - counted > self.span_steps:
            self.span_steps = committed - counted  # learnt when the start record was lost
        self.moving = True

    def halt(self, counted) -> None:
        if counted is not None:
            self._count(counted)
            self.delivered_steps = self.counted_steps
        self.moving = False

    def _count(self, counted: int) -> None:
        # A pressure-relief back-off lowers the net count but does not take back delivered
        # drug: the count recorded never goes down within an infusion.
        if counted > self.counted_steps:
            self.counted_steps = counted

    def touch(self, t_ms: int, wall_s) -> None:
        self.end_t_ms = t_ms
        self.end_wall_s = wall_s


class RecoveredState:
    """What the journal says, record by record; `Journal.replay()` builds one from storage."""

    def __init__(self, keep_events: int = 64) -> None:
        self.last_seq = 0
        self.t_ms = 0  # journal time of the last good record
        self.prescription = None  # dict of the entered fields
        self.session = None  # the last infusion, open or finished
        self.past_doses = []  # earlier infusions: (end_t_ms, end_wall_s or None, ug or None, weight_g or None)
        self.settings = {}  # safety settings chosen over the link: name -> value
        self.link_seq = 0  # the operator link may have accepted frames up to this seq (0: none)
        self.events = []  # the last keep_events: (seq, t_ms, kind, value)
        self.last_alarm = 0  # code; 0 when none was ever recorded
        self.alarm_acked = False
        self.bad_records = 0  # lines that failed their CRC (flipped bits), skipped
        self.torn_records = 0  # partial last lines left by power cuts, repaired at power-on
        self.torn_tail = False  # the file read ended in a partial line
        self.wall_anchor = None  # (t_ms, wall_s) from the last w= since the last boot
        self._keep = keep_events
        self._event_lines = []  # the events' records, verbatim, for compaction
        self._rx_line = None
        self._bad_in_file = 0  # counted since the last snapshot, which carries the rest
        self._torn_in_file = 0

    @property
    def in_progress(self) -> bool:
        """An infusion was started and neither stopped nor completed."""
        return self.session is not None and self.session.open

    @property
    def delivered_steps(self) -> int:
        """Upper bound of the steps delivered by the last infusion (0 when none)."""
        return self.session.delivered_steps if self.session is not None else 0

    @property
    def alarm_latched(self) -> bool:
        return self.last_alarm != 0 and not self.alarm_acked

    def recent_doses(self, now_t_ms: int, now_wall_s=None) -> list:
        """(ug or None, weight_g or None) of the infusions active in the last 24 h, oldest
        first. Wall-clock time decides where both ends know it; otherwise journal time, which
        never runs ahead of real time, so in doubt a dose counts as recent."""
        doses = list(self.past_doses)
        s = self.session
        if s is not None and not s.earlier_patient:
            doses.append((s.end_t_ms, s.end_wall_s, s.delivered_ug(), s.weight_g))
        out = []
        for end_t_ms, end_wall_s, ug, weight_g in doses:
            if now_wall_s is not None and end_wall_s is not None:
                recent = now_wall_s - end_wall_s < DAY_S
            else:
                recent = now_t_ms - end_t_ms < DAY_MS
            if recent:
                out.append((ug, weight_g))
        return out

    def ug_last_24h(self, now_t_ms: int, now_wall_s=None):
        """Drug delivered (ug, rounded up) by infusions active in the last 24 h, or None when
        one of them lost its totals."""
        total = 0
        for ug, _weight_g in self.recent_doses(now_t_ms, now_wall_s):
            if ug is None:
                return None
            total += ug
        return total

    def patient_g(self, now_t_ms: int, now_wall_s=None):
        """The body weight of the patient the last 24 h's doses went to, as first recorded;
        None when no recent dose names one. The daily maximum is held against this patient."""
        for _ug, weight_g in self.recent_doses(now_t_ms, now_wall_s):
            if weight_g:  # g=0: no patient (water on a bench, firmware/service.py)
                return weight_g
        return None

    def summary(self) -> dict:
        """The recovered facts as plain values (for status reports and comparisons)."""
        s = self.session
        out = {"last_seq": self.last_seq, "prescription": self.prescription, "in_progress": self.in_progress,
               "delivered_steps": self.delivered_steps, "last_alarm": self.last_alarm,
               "alarm_acked": self.alarm_acked, "bad_records": self.bad_records,
               "torn_records": self.torn_records, "past_doses": list(self.past_doses), "events": list(self.events),
               "settings": dict(self.settings), "link_seq": self.link_seq}
        if s is not None:
            out["session"] = (s.start_seq, s.start_t_ms, s.total_steps, s.total_ug, s.counted_steps,
                              s.delivered_steps, s.span_steps, s.moving, s.open, s.interrupted,
                              s.end_t_ms, s.end_wall_s, s.weight_g, s.earlier_patient)
        return out

    # ---- applying records --------------------------------------------------------------
    def apply(self, seq: int, t_ms: int, kind: str, fields: dict, line: bytes) -> None:
        """Take in one good record; ValueError (and no change) when it makes no sense here."""
        if seq <= self.last_seq or t_ms < self.t_ms:
            raise ValueError("record %d out of order" % seq)
        stamped = _opt_int(fields, _WALL_KEY)
        wall_s = stamped
        if wall_s is None and kind != "boot" and self.wall_anchor is not None:
            t0, w0 = self.wall_anchor
            wall_s = w0 + (t_ms - t0 + 999) // 1000  # rounded up: later is the cautious side
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, seq, t_ms, fields, wall_s)
        if kind == "boot":
            self.wall_anchor = None
        if stamped is not None:
            self.wall_anchor = (t_ms, stamped)
        if kind == "rx":
            self._rx_line = line
        self.last_seq = seq
        self.t_ms = t_ms
        if kind in EVENT_VALUE_KEYS:
            self._push_event(seq, t_ms, kind, fields, line)

    def note_bad(self) -> None:
        """A damaged line: count it; inside an infusion it may have been a lost commitment."""
        self.bad_records += 1
        self._bad_in_file += 1
        s = self.session
        if s is not None and s.open:
            s.delivered_steps += s.span_steps

    def note_torn(self) -> None:
        self.torn_records += 1
        self._torn_in_file += 1

    def _push_event(self, seq, t_ms, kind, fields, line) -> None:
        key = EVENT_VALUE_KEYS[kind]
        value = _fields_text(fields) if key is None else fields.get(key)
        self.events.append((seq, t_ms, kind, value))
        self._event_lines.append(line)
        if len(self.events) > self._keep:
            self.events.pop(0)
            self._event_lines.pop(0)

    def _open_session(self, seq, t_ms, total_steps, total_ug, weight_g=None) -> Session:
        self._close_into_past()
        self.session = Session(seq, t_ms, total_steps, total_ug, weight_g)
        return self.session

    def _running(self, seq, t_ms) -> Session:
        """The open session; a motion record without one (its start record lost) opens one."""
        if self.session is None or not self.session.open:
            return self._open_session(seq, t_ms, 0, 0)
        return self.session

    def _close_into_past(self) -> None:
        s = self.session
        if s is None:
            return
        self.session = None
        if s.earlier_patient:
            return  # not this patient's dose
        self.past_doses.append((s.end_t_ms, s.end_wall_s, s.delivered_ug(), s.weight_g))
        if len(self.past_doses) > MAX_PAST_DOSES:
            merged = _merge_doses(self.past_doses[0], self.past_doses[1])
            del self.past_doses[0]
            self.past_doses[0] = merged


def _merge_doses(a: tuple, b: tuple) -> tuple:
    """Two old doses as one, on the cautious side: the later end, the sum, unknown wins; the
    patient of the later one (while both are recent they are the same patient)."""
    wall = None if a[1] is None or b[1] is None else max(a[1], b[1])
    ug = None if a[2] is None or b[2] is None else a[2] + b[2]
    return (max(a[0], b[0]), wall, ug, b[3])


# ---- record handlers: read every field first, so a bad record changes nothing ------------
def _on_boot(st, seq, t_ms, fields, wall_s) -> None:
    bound = _opt_int(fields, "d")
    s = st.session
    if s is not None and s.open:
        s.interrupted = s.interrupted or s.moving
        s.moving = False
        if bound is not None:
            s.delivered_steps = bound


def _on_clock(st, seq, t_ms, fields, wall_s) -> None:
    _int(fields, _WALL_KEY)


def _on_rx(st, seq, t_ms, fields, wall_s) -> None:
    rx = {}
    for k in fields:
        if k != _WALL_KEY:
            rx[k] = fields[k]
    st.prescription = rx


def _on_start(st, seq, t_ms, fields, wall_s) -> None:
    total_steps, total_ug, span, weight_g = _int(fields, "n"), _int(fields, "u"), _int(fields, "sp"), _int(fields, "g")
    s = st._open_session(seq, t_ms, total_steps, total_ug, weight_g)
    s.span_steps = span
    s.touch(t_ms, wall_s)


def _on_motion(st, seq, t_ms, fields, wall_s) -> None:
    counted, committed = _int(fields, "d"), _int(fields, "c")
    s = st._running(seq, t_ms)
    s.commit(counted, committed)
    s.touch(t_ms, wall_s)


def _on_pause(st, seq, t_ms, fields, wall_s) -> None:
    counted = _int(fields, "d")
    s = st._running(seq, t_ms)
    s.halt(counted)
    s.touch(t_ms, wall_s)


def _on_alarm(st, seq, t_ms, fields, wall_s) -> None:
    code, counted = _int(fields, "a"), _opt_int(fields, "d")
    st.last_alarm = code
    st.alarm_acked = False
    s = st.session
    if s is not None and s.open:
        s.halt(counted)
        s.touch(t_ms, wall_s)


def _on_ack(st, seq, t_ms, fields, wall_s) -> None:
    _int(fields, "a")
    st.alarm_acked = True


def _on_end(st, seq, t_ms, fields, wall_s) -> None:
    counted = _opt_int(fields, "d")
    s = st.session
    if s is not None and s.open:
        s.halt(counted)
        s.open = False
        s.touch(t_ms, wall_s)


def _on_done(st, seq, t_ms, fields, wall_s) -> None:
    _int(fields, "d")
    _on_end(st, seq, t_ms, fields, wall_s)


def _on_patient(st, seq, t_ms, fields, wall_s) -> None:
    """Re-identified: the doses so far went to someone else (an open infusion, which the
    controller never lets this happen during, still counts)."""
    _int(fields, "g")
    _int(fields, "was")
    if st.session is not None and not st.session.open:
        st.session.earlier_patient = True
    st.past_doses = []


def _on_set(st, seq, t_ms, fields, wall_s) -> None:
    for k in fields:
        if k != _WALL_KEY:
            st.settings[k] = fields[k]


def _on_seq(st, seq, t_ms, fields, wall_s) -> None:
    st.link_seq = _int(fields, "q")


def _on_snap(st, seq, t_ms, fields, wall_s) -> None:
    past = _parse_doses(fields.get("past", "-"))
    alarm, acked = _int(fields, "al"), _int(fields, "ack")
    bad, torn = _int(fields, "bad"), _int(fields, "torn")
    link_seq = _int(fields, "q")
    settings = {}
    for k in fields:
        if k.startswith(_SETTING_PREFIX):
            settings[k[len(_SETTING_PREFIX):]] = fields[k]
    session = _snap_session(fields) if "sq" in fields else None
    st.settings = settings
    st.link_seq = link_seq
    st.past_doses = past
    st.session = session
    st.last_alarm = alarm
    st.alarm_acked = acked == 1
    st.bad_records = bad + st._bad_in_file
    st.torn_records = torn + st._torn_in_file


_HANDLERS = {"boot": _on_boot, "clock": _on_clock, "rx": _on_rx, "start": _on_start, "prog": _on_motion,
             "resume": _on_motion, "pause": _on_pause, "alarm": _on_alarm, "ack": _on_ack, "stop": _on_end,
             "done": _on_done, "patient": _on_patient, "set": _on_set, "seq": _on_seq, "snap": _on_snap}


# ---- snapshot encoding -------------------------------------------------------------------
def _snap_pairs(st: RecoveredState) -> list:
    pairs = [("al", st.last_alarm), ("ack", 1 if st.alarm_acked else 0), ("bad", st.bad_records),
             ("torn", st.torn_records), ("past", _format_doses(st.past_doses)), ("q", st.link_seq)]
    for k in sorted(st.settings):
        pairs.append((_SETTING_PREFIX + k, st.settings[k]))
    s = st.session
    if s is not None:
        pairs += [("sq", s.start_seq), ("st", s.start_t_ms), ("n", s.total_steps), ("u", s.total_ug),
                  ("lo", s.counted_steps), ("d", s.delivered_steps), ("sp", s.span_steps),
                  ("flags", _flags(s)), ("et", s.end_t_ms)]
        if s.end_wall_s is not None:
            pairs.append(("ew", s.end_wall_s))
        if s.weight_g is not None:
            pairs.append(("g", s.weight_g))
    return pairs


def _flags(s: Session) -> int:
    return (1 if s.moving else 0) | (2 if s.open else 0) | (4 if s.interrupted else 0) | (8 if s.earlier_patient else 0)


def _snap_session(fields: dict) -> Session:
    s = Session(_int(fields, "sq"), _int(fields, "st"), _int(fields, "n"), _int(fields, "u"))
    s.counted_steps = _int(fields, "lo")
    s.delivered_steps = _int(fields, "d")
    s.span_steps = _int(fields, "sp")
    flags = _int(fields, "flags")
    s.moving = bool(flags & 1)
    s.open = bool(flags & 2)
    s.interrupted = bool(flags & 4)
    s.earlier_patient = bool(flags & 8)
    s.end_t_ms = _int(fields, "et")
    s.end_wall_s = _opt_int(fields, "ew")
    s.weight_g = _opt_int(fields, "g")
    return s


def _format_doses(doses: list) -> str:
    """'-' or entries 'end_t_ms.end_wall_s.ug.weight_g' joined by ',', '-' for an unknown part."""
    if not doses:
        return "-"
    return ",".join(["%s.%s.%s.%s" % (_dash(t), _dash(w), _dash(u), _dash(g)) for t, w, u, g in doses])


def _dash(v) -> str:
    return "-" if v is None else str(v)


def _parse_doses(text) -> list:
    if text == "-":
        return []
    if not isinstance(text, str):
        raise ValueError("past=%s" % text)
    out = []
    for entry in text.split(","):
        parts = entry.split(".")
        if len(parts) != 4 or parts[0] == "-":
            raise ValueError("past entry %s" % entry)
        out.append((int(parts[0]), _undash(parts[1]), _undash(parts[2]), _undash(parts[3])))
    return out


def _undash(text: str):
    return None if text == "-" else int(text)


# ---- line codec --------------------------------------------------------------------------
def encode(seq: int, t_ms: int, kind: str, pairs: list) -> bytes:
    """One record as stored: an empty line, then the sealed line with its newline."""
    body = "%d %d %s" % (seq, t_ms, kind)
    if pairs:
        body += " " + frames.format_pairs(pairs)
    return b"\n" + frames.seal(body)


def decode(line: bytes):
    """(seq, t_ms, kind, fields) of a line without its newline, or None when it is damaged."""
    body, crc = frames.split_crc(line)
    if crc is None or frames.crc_hex(body).encode() != crc:
        return None
    tokens = body.decode().split(" ")
    if len(tokens) < 3:
        return None
    try:
        return int(tokens[0]), int(tokens[1]), tokens[2], frames.parse_pairs(tokens[3:])
    except ValueError:
        return None


def replay_bytes(data: bytes, keep_events: int = 64) -> RecoveredState:
    """Rebuild the state from a journal file's bytes, skipping damaged lines."""
    st = RecoveredState(keep_events)
    start = 0
    n = len(data)
    while start < n:
        end = data.find(b"\n", start)
        last = end < 0
        if last:
            end = n
        line = data[start:end]
        start = end + 1
        if line and not _apply_line(st, line):
            if last and _could_be_torn(line):
                st.torn_tail = True
            elif line[-1] == _TORN_MARK:
                if len(line) > 1:  # a bare mark: a failed append that wrote nothing
                    st.note_torn()
            else:
                st.note_bad()
    return st


def _apply_line(st: RecoveredState, line: bytes) -> bool:
    rec = decode(line)
    if rec is None:
        return False
    try:
        st.apply(rec[0], rec[1], rec[2], rec[3], line)
    except ValueError:
        return False
    return True


def _could_be_torn(line: bytes) -> bool:
    """A power cut leaves a prefix of a record; a whole CRC in place means damage instead."""
    cut = line.rfind(b" *")
    return cut < 0 or len(line) - cut - 2 < 8


def _fields_text(fields: dict) -> str:
    return frames.format_pairs([(k, fields[k]) for k in sorted(fields) if k != _WALL_KEY])


def _int(fields: dict, key: str) -> int:
    v = fields.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError("%s=%s is not an integer" % (key, v))
    return v


def _opt_int(fields: dict, key: str):
    return None if key not in fields else _int(fields, key)


# ---- argument checks (errors for people) -------------------------------------------------
def _check_count(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("journal: %s=%r is not a count; give an integer >= 0" % (name, value))
    return value


def _check_key(key) -> str:
    if isinstance(key, str) and _is_key(key):
        return key
    raise ValueError("journal: field name %r; use 1-24 characters a-z, 0-9, _ (and not 'w')" % (key,))


def _is_key(text: str) -> bool:
    if not 0 < len(text) <= 24 or text == _WALL_KEY:
        return False
    for ch in text:
        if not ("a" <= ch <= "z" or "0" <= ch <= "9" or ch == "_"):
            return False
    return True


def _check_token(name: str, value):
    """An int, or text that survives the key=value line unchanged (no spaces, not numeric)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _is_token(value):
        return value
    raise ValueError("journal: %s=%r; give an integer or 1-48 printable characters without "
                     "spaces or '=' that do not read as a number" % (name, value))


def _is_token(text: str) -> bool:
    if not 0 < len(text) <= 48:
        return False
    for ch in text:
        if ch <= " " or ch > "~" or ch == "=":
            return False
    return frames.parse_value(text) == text


class Journal:
    """Appends records to `storage` under `name`, keeps the recovered state current, compacts.

    `power_on(reset_cause)` must come first: it replays the file, repairs a torn last record
    and records the reset. `clock` (a HAL Clock) stamps the records; without one, time stands
    still at the last record's t_ms.
    """

    def __init__(self, storage, name: str = "journal", clock=None, max_bytes: int = 16384,
                 keep_events: int = 64) -> None:
        if not isinstance(max_bytes, int) or max_bytes < MIN_MAX_BYTES:
            raise ValueError("journal: max_bytes=%r; give at least %d" % (max_bytes, MIN_MAX_BYTES))
        if not isinstance(keep_events, int) or not 1 <= keep_events <= 1000:
            raise ValueError("journal: keep_events=%r; give 1..1000" % (keep_events,))
        self.storage = storage
        self.name = name
        self.clock = clock
        self.max_bytes = max_bytes
        self.keep_events = keep_events
        self.state = RecoveredState(keep_events)
        self.size_bytes = 0
        self.compactions = 0
        self._compact_at = max_bytes
        self._open = False
        self._repair = b""  # written before the next record: closes a partial last line
        self._t_ms = 0
        self._tick_ms = 0
        self._wall = None  # (t_ms, wall_s) while the wall-clock time is known

    # ---- reading ---------------------------------------------------------------------------
    def replay(self) -> RecoveredState:
        """The state the stored journal describes (read-only: writes nothing)."""
        return replay_bytes(self.storage.read(self.name), self.keep_events)

    def power_on(self, reset_cause, wall_s=None) -> RecoveredState:
        """Replay, then record the reset (closing the delivered bound of an open infusion)."""
        _check_token("reset_cause", reset_cause)
        data = self.storage.read(self.name)
        st = replay_bytes(data, self.keep_events)
        self.state = st
        self.size_bytes = len(data)
        self._compact_at = self.max_bytes
        self._repair = b""
        if len(data) > 0 and data[-1] != 10:
            self._repair = _REPAIR if st.torn_tail else b"\n"
        self._t_ms = st.t_ms
        self._tick_ms = self.clock.now_ms() if self.clock is not None else 0
        self._wall = None
        self._open = True
        pairs = [("r", reset_cause)]
        if st.in_progress:
            pairs.append(("d", st.delivered_steps))
        if wall_s is not None:
            pairs.append((_WALL_KEY, _check_count("wall_s", wall_s)))
            self._wall = (self.now_t_ms(), wall_s)
        self._append("boot", pairs)
        return self.state

    @property
    def committed_steps(self) -> int:
        """Steps the motor may have issued by now in the open infusion (durable on storage)."""
        s = self.state.session
        return s.delivered_steps if s is not None and s.open and s.moving else 0

    def now_t_ms(self) -> int:
        """Journal time now: the last record's t_ms plus powered-on time since (never less)."""
        if self.clock is not None:
            tick = self.clock.now_ms()
            dt = self.clock.diff_ms(tick, self._tick_ms)
            self._tick_ms = tick
            if dt > 0:
                self._t_ms += dt
        return self._t_ms

    def wall_s(self):
        """Wall-clock seconds now, or None until set_wall_clock() in this power cycle."""
        if self._wall is None:
            return None
        t0, w0 = self._wall
        return w0 + (self.now_t_ms() - t0) // 1000

    def ug_last_24h(self):
        """The recovered state's cumulative dose over the last 24 h, as of now."""
        return self.state.ug_last_24h(self.now_t_ms(), self.wall_s())

    def patient_g(self):
        """The weight of the patient dosed in the last 24 h, as first recorded (None: nobody)."""
        return self.state.patient_g(self.now_t_ms(), self.wall_s())

    @property
    def link_seq(self) -> int:
        """The operator link's last sequence number that may have been accepted (0: none)."""
        return self.state.link_seq

    # ---- records -----------------------------------------------------------------------
    def set_wall_clock(self, wall_s: int) -> None:
        """The operator or host gave the date and time (UNIX seconds)."""
        _check_count("wall_s", wall_s)
        self._append("clock", [(_WALL_KEY, wall_s)])
        self._wall = (self.state.t_ms, wall_s)

    def prescription(self, fields: dict) -> None:
        """The prescription as entered (Program.entered())."""
        pairs = []
        for k in sorted(fields):
            pairs.append((_check_key(k), _check_token(k, fields[k])))
        self._append("rx", pairs)

    def start(self, total_steps: int, total_ug: int, span_steps: int, weight_g: int) -> None:
        """Infusion started for a patient of weight_g; commitments will run at most span_steps
        ahead of the count (one progress interval at the fastest rate), and the first one,
        span_steps, is written too."""
        self._append("start", [("n", _check_count("total_steps", total_steps)),
                               ("u", _check_count("total_ug", total_ug)),
                               ("sp", _check_count("span_steps", span_steps)),
                               ("g", _check_count("weight_g", weight_g))])
        self.progress(0, span_steps)

    def patient(self, weight_g: int, was_g: int) -> None:
        """The operator confirmed another patient (weight_g) in place of the one of was_g."""
        self._require_closed("patient")
        self._append("patient", [("g", _check_count("weight_g", weight_g)), ("was", _check_count("was_g", was_g))])

    def setting(self, name: str, value) -> None:
        """A safety setting chosen over the link; replay and compaction keep the latest."""
        if not isinstance(name, str) or len(name) > 24 - len(_SETTING_PREFIX):
            raise ValueError("journal: setting name %r; use at most %d characters" % (name, 24 - len(_SETTING_PREFIX)))
        self._append("set", [(_check_key(name), _check_token(name, value))])

    def accept_link_seq(self, seq: int) -> None:
        """An operator frame numbered seq is about to be acted on: make sure a reset cannot
        bring the link back below it.

        Not one record per frame: vitals alone arrive every few seconds, and every append
        rewrites a flash block. Like the step commitment, the record reserves numbers ahead:
        `seq q=` says frames up to q may have been accepted, and a new one is written only when
        a frame passes q (then q = seq + LINK_SEQ_AHEAD). A reset continues after q, so every
        frame accepted before it is old; the cost is one short record per LINK_SEQ_AHEAD
        frames, and after each power-on, at its first frame."""
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq < frames.SEQ_MODULO:
            raise ValueError("journal: seq=%r; give 1..%d" % (seq, frames.SEQ_MODULO - 1))
        q = self.state.link_seq
        if q != 0 and not frames.seq_after(seq, q):
            return
        self._append("seq", [("q", (seq - 1 + LINK_SEQ_AHEAD) % (frames.SEQ_MODULO - 1) + 1)])

    def progress(self, counted_steps: int, committed_steps: int) -> None:
        """Steps counted so far, and the steps the motor may issue before the next record."""
        self._append("prog", self._commitment("progress", counted_steps, committed_steps))

    def pause(self, counted_steps: int) -> None:
        """Motor halted: steps counted after the halt."""
        _check_count("counted_steps", counted_steps)
        self._require_open("pause")
        self._append("pause", [("d", counted_steps)])

    def resume(self, counted_steps: int, committed_steps: int) -> None:
        self._append("resume", self._commitment("resume", counted_steps, committed_steps))

    def _commitment(self, what: str, counted_steps: int, committed_steps: int) -> list:
        _check_count("counted_steps", counted_steps)
        _check_count("committed_steps", committed_steps)
        s = self._require_open(what)
        if committed_steps - counted_steps > s.span_steps:
            raise ValueError("journal: committed_steps=%d is %d ahead of counted_steps=%d; the span "
                             "given to start() allows %d" % (committed_steps, committed_steps - counted_steps,
                                                            counted_steps, s.span_steps))
        return [("d", counted_steps), ("c", committed_steps)]

    def _require_open(self, what: str) -> Session:
        s = self.state.session
        if s is None or not s.open:
            raise ValueError("journal: %s with no infusion open; call start() first" % what)
        return s

    def _require_closed(self, what: str) -> None:
        if self.state.in_progress:
            raise ValueError("journal: %s while an infusion is open; stop() or complete() it first" % what)

    def alarm(self, code: int, counted_steps=None) -> None:
        """An alarm latched; counted_steps after the motor halted, when an infusion was open."""
        pairs = [("a", _check_count("code", code))]
        if counted_steps is not None:
            pairs.append(("d", _check_count("counted_steps", counted_steps)))
        self._append("alarm", pairs)

    def acknowledge(self, code: int) -> None:
        self._append("ack", [("a", _check_count("code", code))])

    def stop(self, counted_steps=None) -> None:
        """The operator ended the infusion (or discarded a program: no counted_steps)."""
        pairs = []
        if counted_steps is not None:
            pairs.append(("d", _check_count("counted_steps", counted_steps)))
        self._append("stop", pairs)

    def complete(self, counted_steps: int) -> None:
        self._append("done", [("d", _check_count("counted_steps", counted_steps))])

    # ---- writing -------------------------------------------------------------------------
    def _append(self, kind: str, pairs: list) -> None:
        if not self._open:
            raise ValueError("journal %s: call power_on(reset_cause) before writing records" % self.name)
        t_ms = self.now_t_ms()
        seq = self.state.last_seq + 1
        line = encode(seq, t_ms, kind, pairs)
        data = self._repair + line
        self._repair = _REPAIR  # until the append is known to be whole
        self.storage.append(self.name, data)
        self._repair = b""
        self.size_bytes += len(data)
        rec = decode(line[1:-1])
        if rec is None:  # cannot happen: encode() and decode() are one codec
            raise ValueError("journal: record %d does not read back" % seq)
        self.state.apply(rec[0], rec[1], rec[2], rec[3], line[1:-1])
        if self.size_bytes > self._compact_at:
            self.compact()

    def compact(self) -> None:
        """Rewrite the journal as prescription + recent events + snapshot; swap atomically."""
        st = self.state
        t_ms = self.now_t_ms()
        snap = _snap_pairs(st)
        if self._wall is not None:
            snap.append((_WALL_KEY, self.wall_s()))
        data = (_join_lines(st._rx_line, st._event_lines) + encode(st.last_seq + 1, t_ms, "snap", snap)
                + encode(st.last_seq + 2, t_ms, "snap", snap))
        self.storage.replace(self.name, data)
        self.state = replay_bytes(data, self.keep_events)
        self.size_bytes = len(data)
        self._repair = b""
        self._compact_at = max(self.max_bytes, len(data) + self.max_bytes // 4)
        self.compactions += 1


def _join_lines(rx_line, event_lines: list) -> bytes:
    """Distinct record lines in seq order (the prescription may also be a recent event)."""
    lines = list(event_lines)
    if rx_line is not None and rx_line not in lines:
        lines.append(rx_line)
    lines.sort(key=_line_seq)
    return b"".join([b"\n" + ln + b"\n" for ln in lines])


def _line_seq(line: bytes) -> int:
    return int(line[:line.find(b" ")])
