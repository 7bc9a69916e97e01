"""The motion plan: delivered steps as an exact function of running time."""

from firmware.motion import MotionPlan
from tests.firmware.checks import raises
from tests.firmware.fixtures import Lcg


def test_plan_ends_exactly_on_total():
    """After the full duration the target is the total, whatever the tick size."""
    for tick in (1, 7, 100, 333, 5000):
        plan = MotionPlan(25003, 2400000)
        while not plan.done():
            plan.advance(tick)
        assert plan.target == 25003


def test_incremental_equals_closed_form():
    """advance() gives floor(total * elapsed / duration) after any sequence of slices."""
    rng = Lcg(7)
    for total, duration in ((1, 1200000), (25003, 2400000), (355000, 14400000), (999983, 600000)):
        plan = MotionPlan(total, duration)
        elapsed = 0
        while not plan.done():
            delta = 1 + rng.below(3000)
            plan.advance(delta)
            elapsed = min(duration, elapsed + delta)
            assert plan.target == total * elapsed // duration


def test_plan_is_monotone_and_never_exceeds_total():
    """The target never decreases and never passes the total, even when overshooting time."""
    plan = MotionPlan(1000, 60000)
    last = 0
    for _ in range(100):
        t = plan.advance(997)
        assert last <= t <= 1000
        last = t
    assert plan.advance(10 ** 9) == 1000


def test_large_slice_after_a_stall_is_exact():
    """A single long slice (a stalled loop) still lands on the exact closed form."""
    plan = MotionPlan(355000, 14400000)
    assert plan.advance(3600000) == plan.target_at(3600000) == 88750


def test_invalid_plan_rejected():
    """A plan without steps or duration cannot be made."""
    raises(ValueError, MotionPlan, 0, 1000)
    raises(ValueError, MotionPlan, 10, 0)
