"""The control loop allocates nothing: ticks run under micropython.heap_lock().

Only MicroPython can lock its heap, so under CPython these tests report as skipped; their
[micropython] twins are the real check.
"""

from firmware import alarms
from firmware.controller import ALARM, COMPLETE
from tests.firmware.checks import ON_MICROPYTHON, skip
from tests.firmware.fixtures import controller, standard_rx, monitored


def _locked_ticks(vb, ctl, n: int) -> None:
    import micropython  # type: ignore[import-not-found]

    for _ in range(n):
        vb.advance(100)
        micropython.heap_lock()
        try:
            ctl.tick(vb.clock.now_ms())
        finally:
            micropython.heap_unlock()
        ctl.service(vb.clock.now_ms())  # the journal's housekeeping, outside the loop


def _started(ticks: int):
    """A standard infusion started and run for `ticks` locked ticks (MicroPython only)."""
    if not ON_MICROPYTHON:
        skip("heap_lock exists only in MicroPython")
    vb, ctl = controller()
    ctl.program_prescription(standard_rx())
    monitored(ctl)
    ctl.start()
    _locked_ticks(vb, ctl, ticks)
    return vb, ctl


def test_whole_infusion_ticks_without_allocating():
    """40 min of ticks, from start to completion, with the heap locked."""
    vb, ctl = _started(40 * 600 + 10)
    assert ctl.state == COMPLETE and ctl.delivered_steps() == ctl.program.total_steps


def test_alarm_path_ticks_without_allocating():
    """A dose-overrun alarm raised inside the loop allocates nothing either."""
    vb, ctl = _started(600)
    vb.stepper.runaway_steps = 100000
    vb.stepper.gate_failed = True
    _locked_ticks(vb, ctl, 10)
    assert ctl.state == ALARM and ctl.alarm_code == alarms.DOSE_OVERRUN


def test_rate_limit_path_ticks_without_allocating():
    """The counted-rate guard judging every tick, and latching RATE_LIMIT, allocates nothing."""
    vb, ctl = _started(600)
    vb.stepper.stalled = True
    _locked_ticks(vb, ctl, 70)
    vb.stepper.stalled = False
    _locked_ticks(vb, ctl, 10)
    assert ctl.state == ALARM and ctl.alarm_code == alarms.RATE_LIMIT
