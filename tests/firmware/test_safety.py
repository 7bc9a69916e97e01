"""Interlocks while running: every one stops the motor and latches (both interpreters)."""

from firmware import alarms, errors
from firmware.controller import ALARM, COMPLETE, PAUSED, PROGRAMMED, RUNNING
from firmware.errors import Rejected
from tests.firmware.checks import raises
from tests.firmware.fixtures import controller, monitored, run_until_state, standard_rx, warnings

MIN = 60000


def _running(minutes=5, rx=None):
    vb, ctl = controller()
    ctl.program_prescription(rx or standard_rx())
    monitored(ctl)
    ctl.start()
    run_until_state(vb, ctl, (), minutes * MIN)
    assert ctl.state == RUNNING
    return vb, ctl


def _latched(vb, ctl, code, within_ms):
    used = run_until_state(vb, ctl, (ALARM,), within_ms)
    assert ctl.state == ALARM and ctl.alarm_code == code, (ctl.state, ctl.alarm_code)
    held = ctl.delivered_steps()
    run_until_state(vb, ctl, (), 30000)
    assert ctl.state == ALARM and not vb.stepper.enabled and ctl.delivered_steps() == held
    return used


def test_start_refused_without_a_ready_syringe():
    """No syringe, a loose plunger or an empty syringe: START is refused and nothing moves."""
    vb, ctl = controller()
    ctl.program_prescription(standard_rx())
    for attr, value, field in (("syringe", False, "syringe_present"), ("plunger", False, "plunger_engaged"),
                               ("end_stop", True, "end_stop")):
        setattr(vb.switches, attr, value)
        e = raises(Rejected, ctl.start)
        assert e.code == errors.NOT_READY and e.field == field and ctl.state == PROGRAMMED
        setattr(vb.switches, attr, not value)
    monitored(ctl)
    ctl.start()
    assert ctl.state == RUNNING


def test_syringe_removed_while_running():
    """Taking the syringe out latches SYRINGE_REMOVED within a tick."""
    vb, ctl = _running()
    vb.switches.syringe = False
    assert _latched(vb, ctl, alarms.SYRINGE_REMOVED, 1000) <= 100


def test_plunger_disengaged_while_running():
    """A loose plunger (free-flow hazard) latches PLUNGER_DISENGAGED."""
    vb, ctl = _running()
    vb.switches.plunger = False
    _latched(vb, ctl, alarms.PLUNGER_DISENGAGED, 1000)


def test_syringe_empty_from_the_end_stop():
    """The plunger at the empty end latches SYRINGE_EMPTY."""
    vb, ctl = _running()
    vb.switches.end_stop = True
    _latched(vb, ctl, alarms.SYRINGE_EMPTY, 1000)


def test_force_sensor_silent():
    """No new load-cell conversions for a second: FORCE_SENSOR."""
    vb, ctl = _running()
    vb.auto_force = False
    used = _latched(vb, ctl, alarms.FORCE_SENSOR, 5000)
    assert 900 <= used <= 1200


def test_force_sensor_stuck():
    """The same raw value sample after sample: FORCE_SENSOR."""
    vb, ctl = _running()
    vb.auto_force = False
    for _ in range(100):
        vb.advance(12)
        vb.force.set(12600)
        ctl.tick(vb.clock.now_ms())
        ctl.service(vb.clock.now_ms())
        if ctl.state == ALARM:
            break
    assert ctl.state == ALARM and ctl.alarm_code == alarms.FORCE_SENSOR and not vb.stepper.enabled


def test_force_sensor_out_of_range():
    """A saturated reading is a sensor fault, not an occlusion."""
    vb, ctl = _running()
    vb.auto_force = False
    vb.force.set(8388607)
    vb.advance(100)
    ctl.tick(vb.clock.now_ms())
    ctl.service(vb.clock.now_ms())
    assert ctl.state == ALARM and ctl.alarm_code == alarms.FORCE_SENSOR


def test_stall_is_a_step_mismatch():
    """Commanded steps that never reach the STEP line: STEP_MISMATCH, which cannot be resumed."""
    vb, ctl = _running(rx=standard_rx(conc_ug_ml=1000))  # 52.5 mL/h: ~10 steps per tick
    vb.stepper.stalled = True
    _latched(vb, ctl, alarms.STEP_MISMATCH, 20000)
    ctl.acknowledge()
    assert ctl.program is not None and ctl.state != PAUSED


def _ramp_force(vb, ctl, counts_per_tick, limit_ms):
    t = 0
    while ctl.state == RUNNING and t < limit_ms:
        vb.force_counts += counts_per_tick
        vb.advance(100)
        ctl.tick(vb.clock.now_ms())
        ctl.service(vb.clock.now_ms())
        t += 100
    return t


def test_occlusion_trend_alarms_early_and_backs_off():
    """A steady force rise while stepping: OCCLUSION well before the pressure level, then a
    back-off of about what went into the line since the rise began, and the motor off."""
    vb, ctl = _running(minutes=3)
    before = vb.counter.count()
    used = _ramp_force(vb, ctl, 40, 30 * MIN)  # ~0.1 N/s
    assert ctl.state == ALARM and ctl.alarm_code == alarms.OCCLUSION
    at_alarm = ctl.delivered_steps()
    pushed_since_rise = vb.counter.count() - before
    run_until_state(vb, ctl, (), 10000)
    backed = at_alarm - ctl.delivered_steps()
    assert 0 < backed <= pushed_since_rise
    assert not vb.stepper.enabled
    level_counts = ctl.safety.occlusion.threshold_counts
    assert vb.force_counts - 12600 < level_counts  # alarmed before the plain pressure level
    assert used < 120000


def test_occlusion_threshold_alarms_on_a_jump():
    """A force above the pressure level on two samples in a row: OCCLUSION at once."""
    vb, ctl = _running()
    vb.force_counts = 12600 + ctl.safety.occlusion.threshold_counts + 1000
    used = run_until_state(vb, ctl, (ALARM,), 2000)
    assert ctl.state == ALARM and ctl.alarm_code == alarms.OCCLUSION and used <= 200
    run_until_state(vb, ctl, (), 5000)  # the back-off (if any) ends and the motor stays off
    held = ctl.delivered_steps()
    run_until_state(vb, ctl, (), 30000)
    assert not vb.stepper.enabled and ctl.delivered_steps() == held


def test_higher_level_raises_the_threshold():
    """Choosing the high level while running moves the threshold up."""
    vb, ctl = _running()
    medium = ctl.safety.occlusion.threshold_counts
    ctl.set_occlusion_level("high")
    high = ctl.safety.occlusion.threshold_counts
    assert abs(high * 500 // 750 - medium) <= 5 and high > medium


def _relieved_and_resumed():
    """An occlusion, its back-off, the line cleared, acknowledged and resumed."""
    vb, ctl = _running(minutes=3)
    _ramp_force(vb, ctl, 40, 30 * MIN)
    run_until_state(vb, ctl, (), 10000)
    vb.force_counts = 12600
    ctl.acknowledge()
    assert ctl.state == PAUSED
    monitored(ctl)
    ctl.resume()
    return vb, ctl


def test_acknowledged_occlusion_resumes_and_completes():
    """After relief, ack and resume, the infusion completes with exactly the total."""
    vb, ctl = _relieved_and_resumed()
    run_until_state(vb, ctl, (COMPLETE,), 60 * MIN)
    assert ctl.state == COMPLETE and ctl.delivered_steps() == ctl.program.total_steps


def test_catch_up_never_exceeds_twice_the_rate():
    """Steps re-issued after a back-off come at most at twice the plan's rate per tick."""
    vb, ctl = _relieved_and_resumed()
    p = ctl.program
    per_tick = (p.total_steps * 100 + p.duration_ms - 1) // p.duration_ms
    last = vb.counter.count()
    for _ in range(600):
        vb.advance(100)
        ctl.tick(vb.clock.now_ms())
        ctl.service(vb.clock.now_ms())
        now = vb.counter.count()
        assert now - last <= 2 * per_tick + 2
        last = now


def test_near_end_warning_once():
    """Five minutes before the end one NEAR_END warning; the motor keeps going."""
    vb, ctl = _running(minutes=1)
    run_until_state(vb, ctl, (), 33 * MIN)
    assert warnings(ctl, alarms.NEAR_END) == []
    run_until_state(vb, ctl, (), 2 * MIN)
    assert warnings(ctl, alarms.NEAR_END) == [alarms.NEAR_END] and ctl.state == RUNNING


def test_steps_never_commanded_are_a_fault_at_once():
    """A burst past a failed budget gate mid-infusion: STEP_MISMATCH on the next tick, with the
    true count written to the journal (so a reset then cannot under-state delivery)."""
    vb, ctl = _running()
    vb.stepper.runaway_steps = 200
    vb.stepper.gate_failed = True
    used = run_until_state(vb, ctl, (ALARM,), 1000)
    assert used <= 100 and ctl.alarm_code == alarms.STEP_MISMATCH and not vb.stepper.enabled
    assert ctl.journal.state.delivered_steps >= vb.stepper.position


def test_held_back_steps_released_at_once_are_a_rate_limit():
    """A generator that holds its queue for 7 s (the lag stays under the stall alarm) and then
    plays it at once pushes ~70 steps in a tick, over 4 steps a tick allowed: RATE_LIMIT, latched,
    final. At the prescribed rate, and while catching up, it never fires (the other tests)."""
    vb, ctl = _running(minutes=1)
    vb.stepper.stalled = True
    run_until_state(vb, ctl, (), 7000)
    assert ctl.state == RUNNING and vb.stepper.pending() > 50
    vb.stepper.stalled = False
    used = _latched(vb, ctl, alarms.RATE_LIMIT, 1000)
    assert used <= 100
    ctl.acknowledge()
    assert ctl.state != PAUSED  # the infusion cannot be resumed
    assert ctl.journal.state.last_alarm == alarms.RATE_LIMIT
