"""The motion plan: how many microsteps should have been delivered after a given running time.

Delivery is a function of elapsed running time, target(e) = floor(total * e / duration), not a
rate added up tick after tick, so no rounding error can build up and the plan ends exactly on
the total. Pausing stops the elapsed time; resuming continues it, so the total never changes.

On a 32-bit board `total * e` overflows MicroPython's small integers (a 50 mL syringe is about
350,000 steps, a session up to 14,400,000 ms), and a big integer would allocate inside the
control loop. So `advance()` keeps the exact quotient and remainder of that same division and
updates them with small products only; `target_at()` is the closed form, used by tests and
set-up, and the two agree exactly (tests check it for arbitrary tick sequences).
"""

from firmware.compat import const

# Largest product the incremental update may form: stays a small int on 32-bit ports.
_SMALL_LIMIT = const(1 << 29)


class MotionPlan:
    def __init__(self, total_steps: int, duration_ms: int) -> None:
        if total_steps < 1 or duration_ms < 1:
            raise ValueError("motion plan needs total_steps >= 1 and duration_ms >= 1")
        self.total_steps = total_steps
        self.duration_ms = duration_ms
        # Longest time slice whose product with total_steps stays small.
        self._chunk_ms = max(1, _SMALL_LIMIT // total_steps)
        self.elapsed_ms = 0
        self.target = 0
        self._remainder = 0  # invariant: target * duration + remainder == total * elapsed

    def target_at(self, elapsed_ms: int) -> int:
        """Closed form of the plan (may use big integers: not for the control loop)."""
        if elapsed_ms >= self.duration_ms:
            return self.total_steps
        if elapsed_ms <= 0:
            return 0
        return self.total_steps * elapsed_ms // self.duration_ms

    def advance(self, delta_ms: int) -> int:
        """Add running time and return the new target; allocation-free for small deltas."""
        if delta_ms <= 0 or self.elapsed_ms >= self.duration_ms:
            return self.target
        left = self.duration_ms - self.elapsed_ms
        if delta_ms > left:
            delta_ms = left
        self.elapsed_ms += delta_ms
        while delta_ms > 0:
            part = delta_ms if delta_ms < self._chunk_ms else self._chunk_ms
            delta_ms -= part
            self._remainder += self.total_steps * part
            q = self._remainder // self.duration_ms
            self.target += q
            self._remainder -= q * self.duration_ms
        return self.target

    def done(self) -> bool:
        return self.elapsed_ms >= self.duration_ms

    def remaining_ms(self) -> int:
        return self.duration_ms - self.elapsed_ms
