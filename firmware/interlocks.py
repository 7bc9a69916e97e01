"""Interlocks the control loop runs every tick. Each watches one hazard and returns an alarm code
(or 0); the controller latches it. All of them work on raw integers prepared at start-up
(load-cell counts, microsteps, ms) and allocate nothing.

- OcclusionDetector: a downstream occlusion makes the plunger force climb while the plunger
  advances. A plain threshold (the clinician's pressure level) alarms when the force passes the
  level; an earlier trend detector alarms when the force has stayed a set rise above its recent
  floor (the lowest force of the last 15 min: friction plus normal line pressure) for a
  confirmation time while steps keep coming. It also remembers the counter position where the
  rise began, so the back-off after the alarm can take back about what was pushed into the
  blocked line, and no more.
- ForceHealth: the load cell falls silent, sticks on one value, or reads out of range.
- StepSupervisor: commanded and counted steps disagree (stall, lost steps, extra steps).
- RateGuard: the counted plunger advance runs faster than the controller ever commands (its
  per-tick cap: twice the plan's rate, within the library's hard rate limit).
"""

from firmware import alarms
from firmware.compat import const

_EMPTY = const(1 << 30)  # an empty bucket of the force floor
_BUCKETS = const(96)


class OcclusionDetector:
    def __init__(self) -> None:
        self._floor = [_EMPTY] * _BUCKETS  # per-bucket minimum force (counts)
        self._n_buckets = 1
        self._bucket = 0
        self._bucket_started_ms = 0
        self._floor_cached = _EMPTY  # min over all buckets but the current one
        self.threshold_counts = _EMPTY
        self.trend_counts = _EMPTY
        self.onset_counts = _EMPTY
        self._confirm_ms = 0
        self._arm_after_ms = 0
        self._bucket_ms = 10000
        self._armed_at_ms = 0
        self._active_ms = 0
        self._running = False
        self._above_since_ms = 0
        self._above = False
        self._above_count0 = 0
        self._onset = False
        self.onset_count = 0  # counter position where the current rise began
        self._over_threshold = 0
        self.trend_enabled = True

    def configure(self, threshold_counts: int, trend_counts: int, onset_counts: int, confirm_ms: int,
                  arm_after_ms: int, window_ms: int, bucket_ms: int) -> None:
        """Set-up for one program (counts are above the load cell's offset)."""
        self.threshold_counts = threshold_counts
        self.trend_counts = trend_counts
        self.onset_counts = onset_counts
        self._confirm_ms = confirm_ms
        self._arm_after_ms = arm_after_ms
        self._bucket_ms = bucket_ms
        n = window_ms // bucket_ms
        self._n_buckets = n if n < _BUCKETS else _BUCKETS

    def restart(self) -> None:
        """Motion (re)starts: forget the floor, wait before judging the trend."""
        for i in range(_BUCKETS):
            self._floor[i] = _EMPTY
        self._bucket = 0
        self._bucket_started_ms = 0
        self._floor_cached = _EMPTY
        self._active_ms = 0
        self._above = False
        self._onset = False
        self._over_threshold = 0

    def update(self, dt_ms: int, force_counts: int, count: int) -> int:
        """One new load-cell sample while the plunger is meant to advance; returns OCCLUSION or 0."""
        # Plain threshold: two samples in a row over the level (one noisy sample is not enough).
        if force_counts >= self.threshold_counts:
            self._over_threshold += 1
            if self._over_threshold >= 2:
                return alarms.OCCLUSION
        else:
            self._over_threshold = 0
        self._active_ms += dt_ms
        if self._active_ms < self._arm_after_ms:
            return 0  # the start-up transient (stopper taking up friction) is not the floor
        self._track_floor(dt_ms, force_counts)
        floor = self._floor_cached if self._floor_cached < self._floor[self._bucket] else self._floor[self._bucket]
        rise = force_counts - floor
        if rise >= self.onset_counts:
            if not self._onset:
                self._onset = True
                self.onset_count = count
        else:
            self._onset = False
        if not self.trend_enabled:
            return 0
        if rise >= self.trend_counts:
            if not self._above:
                self._above = True
                self._above_since_ms = self._active_ms
                self._above_count0 = count
            elif self._active_ms - self._above_since_ms >= self._confirm_ms and count > self._above_count0:
                return alarms.OCCLUSION
        else:
            self._above = False
        return 0

    def _track_floor(self, dt_ms: int, force_counts: int) -> None:
        self._bucket_started_ms += dt_ms
        if self._bucket_started_ms >= self._bucket_ms:
            self._bucket_started_ms = 0
            self._bucket = (self._bucket + 1) % self._n_buckets
            self._floor[self._bucket] = _EMPTY
            low = _EMPTY
            for i in range(self._n_buckets):
                if i != self._bucket and self._floor[i] < low:
                    low = self._floor[i]
            self._floor_cached = low
        if force_counts < self._floor[self._bucket]:
            self._floor[self._bucket] = force_counts


class ForceHealth:
    """The load cell must keep converting, must not stick, must stay in range."""

    def __init__(self, silent_ms: int, stuck_samples: int, max_counts: int) -> None:
        self.silent_ms = silent_ms
        self.stuck_samples = stuck_samples
        self.max_counts = max_counts
        self._last_samples = -1
        self._silent_for_ms = 0
        self._last_raw = 0
        self._same = 0

    def restart(self) -> None:
        self._silent_for_ms = 0
        self._same = 0
        self._last_samples = -1

    def update(self, dt_ms: int, samples: int, raw: int, offset: int) -> int:
        """Returns FORCE_SENSOR or 0; `new` samples are those since the last call."""
        if samples == self._last_samples:
            self._silent_for_ms += dt_ms
            return alarms.FORCE_SENSOR if self._silent_for_ms >= self.silent_ms else 0
        self._silent_for_ms = 0
        fresh = samples - self._last_samples if self._last_samples >= 0 else 1
        self._last_samples = samples
        if raw == self._last_raw:
            self._same += fresh
            if self._same >= self.stuck_samples:
                return alarms.FORCE_SENSOR
        else:
            self._same = 0
            self._last_raw = raw
        force = raw - offset
        if force > self.max_counts or force < -self.max_counts or raw >= 8388607 or raw <= -8388608:
            return alarms.FORCE_SENSOR
        return 0


class StepSupervisor:
    """Counted steps must follow commanded steps: a lag means a stall or lost steps; steps the
    generator was never given (a runaway past a failed budget gate) are a fault at once."""

    def __init__(self, stall_steps: int, stall_ms: int) -> None:
        self.stall_steps = stall_steps
        self.stall_ms = stall_ms
        self._lag_ms = 0

    def restart(self) -> None:
        self._lag_ms = 0

    def update(self, dt_ms: int, commanded: int, counted: int) -> int:
        if counted > commanded + 1:
            return alarms.STEP_MISMATCH
        lag = commanded - counted
        if lag > self.stall_steps:
            self._lag_ms += dt_ms
            if self._lag_ms >= self.stall_ms:
                return alarms.STEP_MISMATCH
        else:
            self._lag_ms = 0
        return 0


class RateGuard:
    """The independent counter must never see the plunger advance faster than the per-tick
    cap the controller commands at. The generator only plays what it is given, but a queue
    held back and released at once (a stalled generator that recovers, a wrong step period)
    would push it into the patient as a bolus: that is RATE_LIMIT, latched and final.

    Judged over a window of ticks rather than tick by tick, so the jitter of a late tick does
    not alarm, with one tick of cap as slack for steps in flight at a window's edge. Example:
    standard 0.5 mg/kg over 40 min is about 1 step a tick, capped at 4 by the hard rate limit;
    over a 1 s window the counter may see 44 steps, and the ~70 steps of a 7 s hold released
    at once latch it."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._limit = 0
        self._in_window_ms = 0
        self._steps = 0
        self._last = 0
        self._fresh = True

    def configure(self, max_steps_per_tick: int, tick_ms: int) -> None:
        self._limit = max_steps_per_tick * (self.window_ms // tick_ms + 1)

    def restart(self) -> None:
        """Motion (re)starts: the next count is the new base."""
        self._in_window_ms = 0
        self._steps = 0
        self._fresh = True

    def update(self, dt_ms: int, counted: int) -> int:
        if self._fresh:
            self._fresh = False
            self._last = counted
            return 0
        advance = counted - self._last
        self._last = counted
        if advance > 0:
            self._steps += advance
        if self._steps > self._limit:
            return alarms.RATE_LIMIT
        self._in_window_ms += dt_ms
        if self._in_window_ms >= self.window_ms:
            self._in_window_ms = 0
            self._steps = 0
        return 0
