"""The power-on self-test on the virtual board: pins, a live force sensor, and a dry move the
independent counter must see step for step, refused with a syringe loaded."""

import json

from firmware.board import Board
from firmware.controller import RUNNING
from firmware.datafile import load_json
from firmware.hal.file_storage import FileStorage
from firmware.main import boot
from firmware.selftest import DRY_MOVE_STEPS, check_pins, run_selftest
from tests.firmware.checks import raises
from tests.firmware.fixtures import controller, monitored, standard_rx


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


def _without(board_name: str, *names, **moved):
    doc = load_json("boards/%s/board.json" % board_name)
    doc["pins"] = dict(doc["pins"])
    for name in names:
        del doc["pins"][name]
    doc["pins"].update(moved)
    return Board(doc)


def test_each_boards_step_counting_pins_are_required():
    """The Pico's budget gate and the ESP32's STEP/DIR sense pins are required, and checked for
    clashes like the others; both shipped board files pass."""
    for name in ("RPI_PICO", "ESP32_DEVKITC"):
        assert check_pins(Board.load(name))[1], name
    ok, detail = check_pins(_without("RPI_PICO", "step_gate"))[1:]
    assert not ok and "step_gate missing" in detail
    ok, detail = check_pins(_without("ESP32_DEVKITC", "step_sense", "dir_sense"))[1:]
    assert not ok and "step_sense missing" in detail and "dir_sense missing" in detail
    ok, detail = check_pins(_without("ESP32_DEVKITC", dir_sense=32))[1:]  # on the HX711's data pin
    assert not ok and "both on GPIO 32" in detail and "dir_sense" in detail
    ok, detail = check_pins(_without("RPI_PICO", step_gate=99))[1:]
    assert not ok and "step_gate is 99" in detail


def test_boot_names_every_missing_pin_before_building_the_hal():
    """A Pico board file without its gate pin stops the boot with the self-test's message, before
    the HAL (which needs the board's hardware) is imported."""
    doc = load_json("boards/RPI_PICO/board.json")
    del doc["pins"]["step_gate"]
    del doc["pins"]["enable"]
    folder = "out/test-tmp/selftest-board"
    FileStorage(folder).replace("board.json", json.dumps(doc).encode())
    e = raises(ValueError, boot, folder + "/board.json")
    assert "step_gate missing" in str(e) and "enable missing" in str(e) and "RPI_PICO" in str(e)
