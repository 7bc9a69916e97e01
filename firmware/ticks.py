"""Wrap-around-safe millisecond ticks.

A board's `time.ticks_ms()` counts up and wraps (every 2**30 ms, about 12.4 days, on
RP2040 and ESP32). A pump session can straddle the wrap, so time is only ever compared as a
difference taken modulo the period, the way `time.ticks_diff` does. The virtual clock uses
this module to wrap on the same period as the boards, so the tests cross a wrap on purpose.
"""

from firmware.compat import const

PERIOD_MS = const(1 << 30)
_MASK = const((1 << 30) - 1)
_HALF = const(1 << 29)


def ticks_add(t_ms: int, delta_ms: int) -> int:
    return (t_ms + delta_ms) & _MASK


def ticks_diff(a_ms: int, b_ms: int) -> int:
    """Signed a - b, correct across one wrap as long as |a - b| < PERIOD_MS / 2."""
    return ((a_ms - b_ms + _HALF) & _MASK) - _HALF
