"""Patient vitals from a bedside monitor, against the clinic's pause criteria.

Clinics pause a ketamine session when SBP > 180 or DBP > 110 on two readings 5 min apart, or
> 200/120 once, HR > 120 sustained for 5 min, or SpO2 < 90 % (REFERENCE.md; no standard, so
every number is data in alarm_limits.json). Readings arrive over the protocol, outside the
control loop; `assess()` says whether they call for a pause.
"""

from firmware import alarms


class VitalsGuard:
    def __init__(self, limits: dict) -> None:
        self.limits = limits
        self.latest = {}
        self.last_report_ms = None
        self._high_bp_since_ms = None
        self._high_hr_since_ms = None
        self.reason = ""

    def assess(self, readings: dict, now_ms: int, clock) -> int:
        """Record a report; return VITALS when the pause criteria are met, else 0."""
        for k in readings:
            self.latest[k] = readings[k]
        self.last_report_ms = now_ms
        v, lim = self.latest, self.limits
        sbp, dbp, hr, spo2 = v.get("sbp", 0), v.get("dbp", 0), v.get("hr", 0), v.get("spo2", 100)
        if sbp > lim["sbp_immediate_mmhg"] or dbp > lim["dbp_immediate_mmhg"]:
            return self._pause("BP %d/%d" % (sbp, dbp))
        if sbp > lim["sbp_pause_mmhg"] or dbp > lim["dbp_pause_mmhg"]:
            if self._high_bp_since_ms is None:
                self._high_bp_since_ms = now_ms
            elif clock.diff_ms(now_ms, self._high_bp_since_ms) >= lim["confirm_after_ms"]:
                return self._pause("BP %d/%d twice" % (sbp, dbp))
        else:
            self._high_bp_since_ms = None
        if hr > lim["hr_pause_bpm"]:
            if self._high_hr_since_ms is None:
                self._high_hr_since_ms = now_ms
            elif clock.diff_ms(now_ms, self._high_hr_since_ms) >= lim["hr_sustained_ms"]:
                return self._pause("HR %d sustained" % hr)
        else:
            self._high_hr_since_ms = None
        if 0 < spo2 < lim["spo2_pause_pct"]:
            return self._pause("SpO2 %d" % spo2)
        return 0

    def _pause(self, reason: str) -> int:
        self.reason = reason
        return alarms.VITALS

    def stale(self, now_ms: int, clock) -> bool:
        """A monitor that has reported before and then gone quiet for too long."""
        if self.last_report_ms is None:
            return False
        return clock.diff_ms(now_ms, self.last_report_ms) >= self.limits["stale_after_ms"]
