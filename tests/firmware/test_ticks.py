"""Wrap-around-safe tick arithmetic."""

from firmware.ticks import PERIOD_MS, ticks_add, ticks_diff


def test_diff_across_the_wrap():
    """Just after the wrap minus just before is a small positive difference."""
    before = PERIOD_MS - 10
    after = ticks_add(before, 25)
    assert after == 15
    assert ticks_diff(after, before) == 25
    assert ticks_diff(before, after) == -25


def test_diff_plain():
    """Without a wrap the difference is ordinary subtraction."""
    assert ticks_diff(1000, 400) == 600
    assert ticks_diff(400, 1000) == -600
