"""The controller state machine, driven by tick() on the in-process virtual board."""

from firmware import alarms, errors
from firmware.controller import ALARM, COMPLETE, IDLE, PAUSED, PROGRAMMED, RUNNING
from firmware.errors import Rejected
from firmware.ticks import PERIOD_MS
from tests.firmware.checks import raises
from tests.firmware.fixtures import controller, run_until_state, standard_rx, monitored

FORTY_MIN_MS = 40 * 60000


def _started(rx=None, start_ms=0):
    vb, ctl = controller(start_ms)
    ctl.program_prescription(rx or standard_rx())
    monitored(ctl)
    ctl.start()
    return vb, ctl


def test_full_infusion_counts_exactly_the_total():
    """program -> start -> complete: the STEP-line count equals the plan's total, on time."""
    vb, ctl = _started()
    used_ms = run_until_state(vb, ctl, (COMPLETE,), FORTY_MIN_MS + 60000)
    assert ctl.state == COMPLETE
    assert ctl.delivered_steps() == ctl.program.total_steps
    assert FORTY_MIN_MS <= used_ms <= FORTY_MIN_MS + 200
    assert not vb.stepper.enabled
    assert abs(ctl.delivered_nl() - 3500000) < 200  # within one step of 3.5 mL


def test_delivery_follows_the_plan_while_running():
    """Half-way through, half the steps are counted (within one tick of steps)."""
    vb, ctl = _started()
    run_until_state(vb, ctl, (), FORTY_MIN_MS // 2)
    total = ctl.program.total_steps
    per_tick = total * 100 // FORTY_MIN_MS + 1
    assert abs(ctl.delivered_steps() - total // 2) <= per_tick


def test_pause_and_resume_keep_the_total():
    """Pausing for 10 min mid-way delays completion by 10 min and delivers the same total."""
    vb, ctl = _started()
    run_until_state(vb, ctl, (), 15 * 60000)
    ctl.pause()
    assert not vb.stepper.enabled
    held = ctl.delivered_steps()
    run_until_state(vb, ctl, (), 10 * 60000)
    assert ctl.delivered_steps() == held and ctl.state == PAUSED
    monitored(ctl)
    ctl.resume()
    used = run_until_state(vb, ctl, (COMPLETE,), FORTY_MIN_MS)
    assert ctl.state == COMPLETE
    assert ctl.delivered_steps() == ctl.program.total_steps
    assert abs(used - 25 * 60000) <= 200


def test_infusion_across_the_ticks_wrap():
    """Starting 5 min before the 2**30 ms wrap changes nothing."""
    vb, ctl = _started(start_ms=PERIOD_MS - 5 * 60000)
    used = run_until_state(vb, ctl, (COMPLETE,), FORTY_MIN_MS + 60000)
    assert ctl.state == COMPLETE and ctl.delivered_steps() == ctl.program.total_steps
    assert used <= FORTY_MIN_MS + 200


def test_no_motion_without_program_and_start():
    """Ticking an idle or merely programmed pump never moves the plunger."""
    vb, ctl = controller()
    run_until_state(vb, ctl, (), 60000)
    ctl.program_prescription(standard_rx())
    run_until_state(vb, ctl, (), 60000)
    assert vb.stepper.position == 0 and not vb.stepper.enabled


def test_commands_in_the_wrong_state_are_refused_and_change_nothing():
    """start before program, resume while running, program while running: BAD_STATE."""
    vb, ctl = controller()
    for cmd in (ctl.start, ctl.pause, ctl.resume, ctl.acknowledge, ctl.stop):
        e = raises(Rejected, cmd)
        assert e.code == errors.BAD_STATE and ctl.state == IDLE
    ctl.program_prescription(standard_rx())
    monitored(ctl)
    ctl.start()
    e = raises(Rejected, ctl.program_prescription, standard_rx(dose_ug_kg=100))
    assert e.code == errors.BAD_STATE and ctl.state == RUNNING and ctl.program.dose_ug_kg == 500
    raises(Rejected, ctl.resume)
    assert ctl.state == RUNNING


def test_alarm_latches_until_acknowledged():
    """An alarm disables the motor and holds through ticks; acknowledging pauses the infusion."""
    vb, ctl = _started()
    run_until_state(vb, ctl, (), 60000)
    ctl.raise_alarm(alarms.OCCLUSION)
    held = ctl.delivered_steps()
    run_until_state(vb, ctl, (), 60000)
    assert ctl.state == ALARM and not vb.stepper.enabled and ctl.delivered_steps() == held
    raises(Rejected, ctl.resume)
    ctl.acknowledge()
    assert ctl.state == PAUSED
    monitored(ctl)
    ctl.resume()
    run_until_state(vb, ctl, (COMPLETE,), FORTY_MIN_MS)
    assert ctl.delivered_steps() == ctl.program.total_steps


def test_slow_runaway_is_cut_at_the_total():
    """A generator that keeps stepping slowly after the plan is stopped by the count, at most one step over."""
    vb, ctl = _started()
    run_until_state(vb, ctl, (), FORTY_MIN_MS - 1000)
    vb.stepper.move(500, 500000)  # keeps stepping at 2 steps/s after the plan has ended
    run_until_state(vb, ctl, (COMPLETE, ALARM), 120000)
    total = ctl.program.total_steps
    assert ctl.state == COMPLETE and total <= ctl.delivered_steps() <= total + 1
    held = ctl.delivered_steps()
    run_until_state(vb, ctl, (), 60000)
    assert ctl.delivered_steps() == held and not vb.stepper.enabled


def test_runaway_generator_is_held_by_the_budget_gate():
    """A generator bursting 500 steps at once cannot pass the gate: never more than one step over."""
    vb, ctl = _started()
    run_until_state(vb, ctl, (), FORTY_MIN_MS - 1000)
    vb.stepper.runaway_steps = 500
    run_until_state(vb, ctl, (COMPLETE, ALARM), 120000)
    assert ctl.state == COMPLETE and ctl.delivered_steps() <= ctl.program.total_steps + 1


def test_runaway_past_a_failed_gate_is_latched_by_the_counter():
    """With the gate failed too, the independent count latches DOSE_OVERRUN and the motor stops."""
    vb, ctl = _started()
    run_until_state(vb, ctl, (), FORTY_MIN_MS - 1000)
    vb.stepper.runaway_steps = 500
    vb.stepper.gate_failed = True
    run_until_state(vb, ctl, (ALARM,), 120000)
    assert ctl.state == ALARM and ctl.alarm_code == alarms.DOSE_OVERRUN
    assert not vb.stepper.enabled
    ctl.acknowledge()
    assert ctl.state == IDLE  # an overrun cannot be resumed


def test_stop_returns_to_idle_and_keeps_the_record():
    """Stopping mid-way disables the motor; delivered steps stay readable."""
    vb, ctl = _started()
    run_until_state(vb, ctl, (), 5 * 60000)
    ctl.stop()
    assert ctl.state == IDLE and not vb.stepper.enabled and ctl.delivered_steps() > 0


def test_watchdog_fed_every_tick():
    """The control loop feeds the watchdog on each pass."""
    vb, ctl = controller()
    run_until_state(vb, ctl, (), 1000)
    assert vb.watchdog.feeds == 10


def test_program_then_complete_allows_a_new_program():
    """After completion a new prescription can be entered."""
    vb, ctl = _started(standard_rx(dose_ug_kg=100))
    run_until_state(vb, ctl, (COMPLETE,), 41 * 60000)
    ctl.program_prescription(standard_rx())
    assert ctl.state == PROGRAMMED
