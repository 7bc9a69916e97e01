"""The power-on self-test on the virtual board: pins, a live force sensor, and a dry move the
independent counter must see step for step, refused with a syringe loaded."""

from firmware.board import Board
from firmware.controller import RUNNING
from firmware.selftest import DRY_MOVE_STEPS, check_pins, run_selftest
from tests.firmware.fixtures import controller, standard_rx, monitored


def _rig(sensor_alive=True):
    vb, ctl = controller()
    vb.switches.syringe = False
    vb.auto_force = sensor_alive  # the virtual HX711 converts as simulated time passes
    return vb, ctl, vb.advance


def _by_name(results):
    out = {}
    for name, ok, detail in results:
        out[name] = (ok, detail)
    return out


def test_all_checks_pass_on_a_healthy_virtual_board():
    """pins, force_sensor and step_counter all pass, in that order, and the plunger ends where it began."""
    vb, ctl, wait = _rig()
    results = run_selftest(ctl, wait)
    assert [r[0] for r in results] == ["pins", "force_sensor", "step_counter"]
    assert all(r[1] for r in results), results
    assert vb.stepper.position == 0 and not vb.stepper.enabled
    assert ("+%d" % DRY_MOVE_STEPS) in _by_name(results)["step_counter"][1]


def test_loaded_syringe_refuses_the_dry_move():
    """With the syringe-present switch closed nothing moves and the check says why."""
    vb, ctl, wait = _rig()
    vb.switches.syringe = True
    ok, detail = _by_name(run_selftest(ctl, wait))["step_counter"]
    assert not ok and "syringe" in detail
    assert vb.stepper.position == 0 and not vb.stepper.enabled


def test_silent_force_sensor_fails():
    """No conversions arrive: force_sensor fails and names the HX711."""
    vb, ctl, wait = _rig(sensor_alive=False)
    ok, detail = _by_name(run_selftest(ctl, wait))["force_sensor"]
    assert not ok and "HX711" in detail


def test_counter_disagreeing_with_the_generator_fails():
    """A generator that bursts extra steps past a failed budget gate makes the counter disagree."""
    vb, ctl, wait = _rig()
    vb.stepper.runaway_steps = 5
    vb.stepper.gate_failed = True
    ok, detail = _by_name(run_selftest(ctl, wait))["step_counter"]
    assert not ok and "disagree" in detail
    assert not vb.stepper.enabled


def test_running_pump_is_not_moved():
    """During an infusion the dry move is refused and the infusion's motion is untouched."""
    vb, ctl, wait = _rig()
    vb.switches.syringe = True
    ctl.program_prescription(standard_rx())
    monitored(ctl)
    ctl.start()
    vb.switches.syringe = False
    ok, detail = _by_name(run_selftest(ctl, wait))["step_counter"]
    assert not ok and "idle" in detail and ctl.state == RUNNING and vb.stepper.enabled


def test_real_board_pins_are_checked():
    """The Pico's board file passes; two signals on one GPIO and a missing one are named."""
    board = Board.load("RPI_PICO")
    assert check_pins(board)[1]
    board.pins = dict(board.pins)
    board.pins["dir"] = board.pins["step"]
    del board.pins["enable"]
    name, ok, detail = check_pins(board)
    assert not ok and "enable missing" in detail and "both on GPIO" in detail
