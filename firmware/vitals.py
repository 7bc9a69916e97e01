"""Patient vitals from a bedside monitor, judged against the clinic's pause criteria.

A monitor makes three kinds of reading, each on its own cadence, and the host forwards each one
when it is new (`VITALS`, docs/protocol.md): a cuff reading (NIBP: `sbp` and `dbp` with the
monitor's reading number `bp_id`, every few minutes), and the continuous `hr` and `spo2`
(every few seconds). A reading is judged once, when it arrives: a cuff value sent again with the
same `bp_id` is the same measurement, neither judged again nor made fresh again, so "two
readings 5 min apart" means two measurements.

A criterion (`vitals.criteria` in firmware/data/alarm_limits.json) is one reading above or below
a threshold on consecutive readings of its kind spanning `for_ms` (0: one reading is enough):
SBP > 180 on two cuff readings 5 min apart, SpO2 < 90 % for 20 s (an oximeter artefact lasts
seconds). A reading back within the threshold, or a gap longer than the kind's staleness, starts
the run again. `report()` returns VITALS when a criterion is met; the controller latches the alarm.

A kind is fresh while its last reading is younger than `stale_ms[kind]`. A kind that reported
and then went quiet is warned once (a failed cuff is BP_STALE even while HR and SpO2 arrive).
`check_start()` is the gate before START and RESUME: no fresh reading of a kind the profile
requires, or a fresh reading beyond any criterion's threshold, refuses with a code that says which.
"""

from firmware import alarms
from firmware.errors import BAD_VALUE, VITALS_ABNORMAL, VITALS_MISSING, VITALS_STALE, Rejected

KINDS = ("bp", "hr", "spo2")
FIELDS = ("sbp", "dbp", "hr", "spo2")  # the readings criteria judge
_KIND_OF = (0, 0, 1, 2)  # FIELDS index -> KINDS index
BP_KEYS = ("sbp", "dbp", "bp_id")  # one cuff reading: all three or none
KEYS = BP_KEYS + ("hr", "spo2")
STALE_WARNINGS = (alarms.BP_STALE, alarms.HR_STALE, alarms.SPO2_STALE)  # by KINDS index


class VitalsGuard:
    def __init__(self, limits: dict) -> None:
        self.limits = limits
        self.latest = {}  # the last reading of each: sbp, dbp, bp_id, hr, spo2
        self.reason = ""  # the criterion that called the last pause
        self._plausible = limits["plausible"]
        self._stale_ms = [limits["stale_ms"][k] for k in KINDS]
        self._at_ms = [None, None, None]  # type: list  # when each kind's last new reading arrived
        self._warned = [False, False, False]  # stale warning given since that reading
        self._field = []  # per criterion: FIELDS index, above (else below), threshold, for_ms
        self._above = []
        self._threshold = []
        self._for_ms = []
        for c in limits["criteria"]:
            if c.get("reading") not in FIELDS or ("above" in c) == ("below" in c) or c.get("for_ms", -1) < 0:
                raise ValueError("vitals criterion %r: needs reading (%s), above or below, for_ms >= 0" % (c, ",".join(FIELDS)))
            self._field.append(FIELDS.index(c["reading"]))
            self._above.append("above" in c)
            self._threshold.append(c["above"] if "above" in c else c["below"])
            self._for_ms.append(c["for_ms"])
        self._since = [None] * len(self._field)  # type: list  # when each criterion's current run began

    # ---- readings (outside the control loop) ---------------------------------------------
    def report(self, readings: dict, now_ms: int, clock) -> int:
        """Check and record a report; return VITALS when a pause criterion is met, else 0.
        A refused report (Rejected) changes nothing."""
        self._check(readings)
        code = 0
        if "bp_id" in readings and readings["bp_id"] != self.latest.get("bp_id"):
            code = self._take(0, readings, now_ms, clock)
        for kind in (1, 2):
            if KINDS[kind] in readings:
                code = self._take(kind, readings, now_ms, clock) or code
        return code

    def _check(self, readings: dict) -> None:
        if not readings:
            raise Rejected(BAD_VALUE, "readings", "none", "sbp+dbp+bp_id,hr,spo2")
        for k in readings:
            if k not in KEYS:
                raise Rejected(BAD_VALUE, k, readings[k], ",".join(KEYS))
            v = readings[k]
            lo, hi = self._plausible[k]
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise Rejected(BAD_VALUE, k, v, "%d..%d" % (lo, hi))
        if "sbp" in readings or "dbp" in readings or "bp_id" in readings:
            for k in BP_KEYS:
                if k not in readings:
                    raise Rejected(BAD_VALUE, k, "-", "sbp+dbp+bp_id")
            if readings["dbp"] >= readings["sbp"]:
                raise Rejected(BAD_VALUE, "dbp", readings["dbp"], "<%d" % readings["sbp"])
            if readings["bp_id"] == self.latest.get("bp_id") and (
                    readings["sbp"] != self.latest["sbp"] or readings["dbp"] != self.latest["dbp"]):
                raise Rejected(BAD_VALUE, "bp_id", readings["bp_id"], "!=%d" % readings["bp_id"])

    def _take(self, kind: int, readings: dict, now_ms: int, clock) -> int:
        """Record a new reading of one kind and judge it against that kind's criteria."""
        prev = self._at_ms[kind]
        gap = prev is None or clock.diff_ms(now_ms, prev) >= self._stale_ms[kind]
        for k in (BP_KEYS if kind == 0 else (KINDS[kind],)):
            self.latest[k] = readings[k]
        self._at_ms[kind] = now_ms
        self._warned[kind] = False
        code = 0
        for i in range(len(self._field)):
            f = self._field[i]
            if _KIND_OF[f] != kind:
                continue
            if not self._beyond(i, self.latest[FIELDS[f]]):
                self._since[i] = None
                continue
            if self._since[i] is None or gap:
                self._since[i] = now_ms
            if not code and clock.diff_ms(now_ms, self._since[i]) >= self._for_ms[i]:
                code = alarms.VITALS
                self.reason = "%s %d %s %d for %d s" % (FIELDS[f], self.latest[FIELDS[f]], ">" if self._above[i] else "<",
                                                       self._threshold[i], self._for_ms[i] // 1000)
        return code

    def _beyond(self, i: int, value: int) -> bool:
        t = self._threshold[i]
        return value > t if self._above[i] else value < t

    # ---- the gate before START and RESUME ---------------------------------------------------
    def check_start(self, required, now_ms: int, clock) -> None:
        """Refuse (Rejected) unless every required kind is fresh and no fresh reading is beyond a
        criterion's threshold; readings that are not fresh are not judged."""
        for kind in range(len(KINDS)):
            at = self._at_ms[kind]
            if at is None or clock.diff_ms(now_ms, at) >= self._stale_ms[kind]:
                if KINDS[kind] in required:
                    limit = "age<%ds" % (self._stale_ms[kind] // 1000)
                    if at is None:
                        raise Rejected(VITALS_MISSING, KINDS[kind], "none", limit)
                    raise Rejected(VITALS_STALE, KINDS[kind], "%ds" % (clock.diff_ms(now_ms, at) // 1000), limit)
                continue
            for i in range(len(self._field)):
                f = self._field[i]
                if _KIND_OF[f] == kind and self._beyond(i, self.latest[FIELDS[f]]):
                    raise Rejected(VITALS_ABNORMAL, FIELDS[f], self.latest[FIELDS[f]], self._bounds_text(f))

    def _bounds_text(self, f: int) -> str:
        """The values of one reading no criterion objects to, e.g. "80..180"."""
        lo, hi = self._plausible[FIELDS[f]]
        for i in range(len(self._field)):
            if self._field[i] == f:
                if self._above[i] and self._threshold[i] < hi:
                    hi = self._threshold[i]
                elif not self._above[i] and self._threshold[i] > lo:
                    lo = self._threshold[i]
        return "%d..%d" % (lo, hi)

    # ---- the control loop (allocation-free) ---------------------------------------------------
    def stale_warning(self, now_ms: int, clock) -> int:
        """A warning code for a kind that reported and has gone quiet (once per silence), else 0."""
        for kind in range(3):
            at = self._at_ms[kind]
            if at is not None and not self._warned[kind] and clock.diff_ms(now_ms, at) >= self._stale_ms[kind]:
                self._warned[kind] = True
                return STALE_WARNINGS[kind]
        return 0
