"""The firmware on the port it is written for: MicroPython v1.28 RPI_PICO on an emulated RP2040
(hil/emulated_board.py), its .mpy build in littlefs, its PIO programs in the chip's PIO, its
HX711, switches and stepper driver wired pin by pin to the simulator's plant, its USB port on a
pty the harness opens like /dev/ttyACM0.

Skips with the reason when the UF2, the boot ROM or the emulator (make setup) is missing.
The infusions use the short-run drug library (hil.pico_image.short_run_library) so they finish in
two emulated minutes.
"""

import json
import re
import time

import pytest

from hil.acceptance.helpers import start_monitored
from hil.client import PumpClient
from hil.emulated_backend import default_image
from hil.emulated_board import EmulatedBoard
from hil.emulated_pico import SETUP_HINT, emulator_installed
from hil.pico_image import SHORT_RX, Unavailable, firmware_files, short_run_library
from sim.board_plant import BoardPlant

WAIT_S = 600  # wall seconds: the emulator shares two cores with everything else


@pytest.fixture(scope="module")
def pico_files():
    try:
        files = firmware_files()
    except Unavailable as e:
        pytest.skip(str(e))
    if not emulator_installed():
        pytest.skip(f"no RP2040 emulator: {SETUP_HINT}")
    return files


@pytest.fixture(scope="module")
def board(pico_files):
    image = default_image({"firmware/data/drug_library.json": short_run_library()})
    with EmulatedBoard(fs_image=image).start() as eb:
        yield eb


@pytest.fixture
def pump(board, tmp_path):
    with PumpClient.open(board.port, log_path=tmp_path / "serial.log", timeout_s=30) as client:
        yield client


def _program_short(pump):
    answer = pump.program(**SHORT_RX)
    if answer["state"] == "awaiting_confirmation":
        answer = pump.confirm(str(answer["soft"]).split(","))
    assert answer["state"] == "programmed"
    return pump.status()["total_steps"]


def test_boots_and_reports_the_rp2_port_and_micropython_version(pump, pico_files):
    """ID comes from the rp2 port, in the MicroPython version the UF2 was built as."""
    ident = pump.identify()
    uf2_version = re.search(rb"MicroPython (v?\d+\.\d+\.\d+)", pico_files[0].read_bytes())
    assert ident["board"] == "RPI_PICO"
    assert ident["runtime"] == "micropython-%s-rp2" % uf2_version.group(1).decode().lstrip("v")


def test_a_ctrl_c_byte_on_the_link_does_not_stop_the_pump(board, pump):
    """0x03 on the USB console is MicroPython's keyboard interrupt: the main loop turns it off,
    so line noise cannot stop the pump (it used to raise KeyboardInterrupt and leave the board
    to its watchdog)."""
    resets = board.pins.watchdog_resets
    pump.send_raw(b"\x03\x03")
    assert pump.identify()["board"] == "RPI_PICO"
    time.sleep(3)  # past watchdog_ms (2 s): a stopped loop would have been reset by now
    assert pump.status()["state"] in ("idle", "alarm")
    assert board.pins.watchdog_resets == resets


def test_selftest_passes_and_the_dry_move_is_seen_both_ways(board, pump):
    """With the syringe out, SELFTEST passes; the host sees the dry move on the STEP line, both ways."""
    board.pause_then(lambda: board.plant.plant.remove_syringe())
    before = board.pins
    try:
        assert pump.selftest() == {"result": "pass", "pins": "ok", "force_sensor": "ok", "step_counter": "ok"}
    finally:
        board.pause_then(lambda: board.plant.plant.insert_syringe())
    after = board.pins
    assert after.forward_edges - before.forward_edges == 32
    assert after.backward_edges - before.backward_edges == 32


@pytest.mark.timeout(WAIT_S)
def test_short_infusion_puts_out_exactly_the_planned_steps(board, pump):
    """0.5 mL over 2 min completes; the STEP edges the driver saw equal the plan's total exactly."""
    total = _program_short(pump)
    before = board.pins
    start_monitored(pump, board)
    done = pump.wait_for_state(("complete",), timeout_s=WAIT_S, poll_s=0.5)
    after = board.pins
    assert done["steps"] == total > 3000
    assert after.forward_edges - before.forward_edges == total
    assert after.backward_edges == before.backward_edges and after.disabled_edges == before.disabled_edges


@pytest.mark.timeout(WAIT_S)
def test_power_cut_mid_infusion_comes_back_in_alarm_and_stays_put(board, pump, tmp_path):
    """Power off for 2 s mid-infusion: the chip restarts from its flash in POWER_LOSS, its journal's
    delivered bound covers what the driver saw within one progress interval, and it does not move
    again by itself."""
    total = _program_short(pump)
    before = board.pins.forward_edges
    start_monitored(pump, board)
    while pump.status()["steps"] < total // 5:
        time.sleep(0.2)
    board.power_cycle(2.0)
    true_steps = board.pins.forward_edges - before
    with PumpClient.open(board.port, log_path=tmp_path / "after.log", timeout_s=30) as again:
        st = again.status()
        assert st["state"] == "alarm" and st["alarm"] == "POWER_LOSS"
        one_interval = total * 5000 // (SHORT_RX["duration_min"] * 60000) + 10
        assert true_steps <= st["steps"] <= true_steps + one_interval
        t_back = board.t_ms
        while board.t_ms < t_back + 10000:  # ten emulated seconds in alarm
            assert again.status()["state"] == "alarm"
    assert board.pins.forward_edges - before == true_steps
    assert not board.pins.enabled


@pytest.fixture(scope="module")
def probe(pico_files):
    """bench/rp2040_probe.py as main.py: heap, allocations and the runaway, on the real port."""
    from bench.rp2040 import probe as run_probe

    return run_probe()


def test_heap_on_the_real_port_leaves_room_and_ticks_allocate_nothing(probe):
    """After boot and while infusing, the RP2040's heap keeps more free than the firmware uses;
    no controller tick allocates, and none is refused under micropython.heap_lock()."""
    assert probe["state"] == "running"
    assert probe["heap_free_infusing"] > probe["heap_alloc_infusing"]
    assert probe["allocating_ticks"] == 0 and probe["allocated_bytes"] == 0
    assert probe["heap_locked_ticks_refused"] == 0


def test_step_budget_gate_stops_a_runaway_at_its_budget(probe):
    """The generator asked for 120 steps with a budget of 50: the gate stops it at 50, counted by
    the firmware's PIO counter and by the host on the STEP line (with EN off: nothing moves)."""
    assert probe["runaway_asked"] > probe["runaway_budget"]
    assert probe["runaway_counted"] == probe["runaway_budget"]
    assert probe["host_runaway_edges"] == probe["runaway_budget"]


def test_host_pio_assembler_builds_what_the_real_rp2_module_builds(probe):
    """The host twin of rp2.asm_pio (tests/boards/fakes/pio_asm.py) gives the pump's three PIO
    programs as MicroPython v1.28.0's own rp2 module on the chip does: the same number of
    fields, instruction words, EXECCTRL and SHIFTCTRL bits and pin initialisers (the offsets in
    fields 1-3 are filled in by the chip when a program is loaded, so they are not compared)."""
    from tests.boards import fakes
    from tests.boards.fakes import pio_asm

    fakes.install()
    from firmware.hal import rp2_pio  # assembled by the host twin

    real = probe["pio_programs"]
    host = {"step_generator": rp2_pio.step_generator(rp2_pio.high_cycles_for(1900)),
            "step_gate": rp2_pio.step_gate, "step_counter": rp2_pio.step_counter}
    assert real["fields"] == pio_asm.PROG_MAX_FIELDS == len(host["step_gate"])
    for name, prog in host.items():
        assert real[name][0] == list(prog[0]), name
        assert real[name][pio_asm.PROG_EXECCTRL:] == list(prog[pio_asm.PROG_EXECCTRL:]), name


@pytest.mark.timeout(WAIT_S)
def test_make_flash_reflashes_a_running_pump(pico_files):
    """tools/flash.py on a Pico that runs the pump: SERVICE, then SERVICE action=flash hands the
    watchdog to a timer and stops the loop, mpremote copies the new build without a soft reset
    and resets the board, and the board answers ID with the build just copied (it ran another
    image before, whose drug library is the short-run one)."""
    from tools import flash

    before = default_image({"firmware/data/drug_library.json": short_run_library()})
    plant = BoardPlant(board="RPI_PICO")
    with EmulatedBoard(fs_image=before, plant=plant, speed=1.0).start() as eb:
        eb.pause_then(lambda: plant.plant.remove_syringe())
        with PumpClient.open(eb.port, timeout_s=30) as pump:
            assert pump.identify()["library"].endswith("-SHORT-RUNS")
        ident = flash.flash("RPI_PICO", eb.port)
        built = json.loads((flash.builder.BUILD / "RPI_PICO" / "firmware" / "data" / "build.json").read_text())
        library = json.loads((flash.builder.BUILD / "RPI_PICO" / "firmware" / "data" / "drug_library.json").read_text())
        assert ident["board"] == "RPI_PICO" and ident["build"] == built["build"]
        assert ident["library"] == library["library_version"]  # the copied library, not the short-run one
