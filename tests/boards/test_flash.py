"""tools.flash: clear errors for a missing or absent port, the mpremote deploy command, and the
ID check against a board that answers (the virtual board on a pty) and one that does not."""

import subprocess
from pathlib import Path

import pytest

from hil.client import PumpTimeout
from tools import flash


def test_missing_port_says_how_to_give_one():
    """No PORT: the message shows the make command with PORT=."""
    with pytest.raises(flash.FlashError, match="PORT=/dev/ttyACM0"):
        flash.check_port(None)


def test_port_that_does_not_exist_is_named(tmp_path):
    """A device path that is not there is named before anything is built or copied."""
    ran = []
    with pytest.raises(flash.FlashError, match="does not exist"):
        flash.flash("RPI_PICO", str(tmp_path / "ttyACM9"), run=lambda *a, **k: ran.append(a))
    assert ran == []


def test_command_line_errors_exit_nonzero(tmp_path):
    """`python -m tools.flash RPI_PICO` (no port) exits 1 and says why on stderr."""
    proc = subprocess.run([flash.sys.executable, "-m", "tools.flash", "RPI_PICO"], cwd=flash.builder.ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "no PORT given" in proc.stderr


def test_deploy_copies_the_image_to_the_root_and_resets():
    """One mpremote session: connect PORT, cp -r firmware, board.json and main.py to :, reset."""
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    flash.deploy("/dev/ttyACM0", Path("build/RPI_PICO"), run=fake_run)
    cmd = calls[0]
    assert cmd[cmd.index("connect") + 1] == "/dev/ttyACM0"
    assert ["cp", "-r", str(Path("build/RPI_PICO/firmware")), ":"] == cmd[cmd.index("-r") - 1:cmd.index("-r") + 3]
    assert ":board.json" in cmd and ":main.py" in cmd and cmd[-1] == "reset"


def test_failed_copy_is_an_error_with_mpremotes_words():
    """mpremote's own error text comes back, with the usual cause to check."""
    def failing(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, "", "mpremote: failed to access /dev/ttyACM0")

    with pytest.raises(flash.FlashError, match="(?s)failed to access.*holding the port"):
        flash.deploy("/dev/ttyACM0", Path("build/RPI_PICO"), run=failing)


def test_silent_board_fails_the_check():
    """A board that never answers ID: FlashError naming the port and the REPL to look at."""
    def no_answer(port, timeout_s):
        raise PumpTimeout("no valid answer to 'ID' on %s" % port)

    with pytest.raises(flash.FlashError, match="no board answered ID on /dev/ttyACM0.*repl"):
        flash.verify("/dev/ttyACM0", open_client=no_answer)


def test_virtual_board_identifies_itself():
    """The check against a live board (the virtual one, on a pty) returns its ID answer."""
    from hil.virtual_board import VirtualBoard

    with VirtualBoard(runtime="cpython", speed=0.0).start() as vb:
        answer = flash.verify(vb.port, timeout_s=5.0)
    assert answer  # whatever the firmware reports (fw, board, state), it came over the protocol


def _virtual_board_without_syringe(tmp_path, runtime="cpython"):
    from hil.virtual_board import ConstantPlant, VirtualBoard
    from sim.bus import SWITCH_PLUNGER

    plant = ConstantPlant()
    plant.switches = SWITCH_PLUNGER  # the syringe is out of its holder
    return VirtualBoard(runtime=runtime, plant=plant, speed=0.0, storage_dir=tmp_path / "flash").start()


def test_flash_puts_a_running_pump_in_maintenance_before_the_copy(tmp_path):
    """Against the virtual board: SERVICE, then SERVICE action=flash, so at copy time the loop no
    longer answers (main.py returned, the timer feeds the watchdog); mpremote runs without its soft
    reset; after the reset the board answers ID and is out of SERVICE again, as it was before."""
    from hil.client import PumpClient, PumpTimeout

    seen = {}
    with _virtual_board_without_syringe(tmp_path) as vb:
        def fake_mpremote(cmd, **kw):
            seen["cmd"] = cmd
            try:
                PumpClient.open(vb.port, timeout_s=0.3).close()
                seen["loop"] = "answering"
            except PumpTimeout:
                seen["loop"] = "stopped"
            vb.power_cycle(0.1)  # the `reset` that ends the copy
            return subprocess.CompletedProcess(cmd, 0, "", "")

        answer = flash.flash("RPI_PICO", vb.port, run=fake_mpremote, boot_wait_s=0)
        with PumpClient.open(vb.port) as pump:
            after = pump.status()
    cmd = seen["cmd"]
    assert seen["loop"] == "stopped"
    assert cmd.index("resume") < cmd.index("cp")
    assert answer["board"] == "VIRTUAL" and after["service"] == "off" and after["state"] == "idle"


def test_flash_refuses_with_a_syringe_loaded(tmp_path):
    """A syringe in the pump: no copy, a message saying to take it out (the pump stays in SERVICE)."""
    from hil.virtual_board import VirtualBoard

    ran = []
    with VirtualBoard(runtime="cpython", speed=0.0).start() as vb:
        with pytest.raises(flash.FlashError, match="take the syringe out"):
            flash.flash("RPI_PICO", vb.port, run=lambda *a, **k: ran.append(a), boot_wait_s=0)
    assert ran == []


def test_flash_refuses_while_an_infusion_runs(tmp_path):
    """A running pump is never stopped by the flash tool: it says to stop it first."""
    from hil.client import PumpClient
    from hil.virtual_board import VirtualBoard

    with VirtualBoard(runtime="cpython", speed=1.0).start() as vb:
        with PumpClient.open(vb.port) as pump:
            pump.program(drug="ketamine", profile="pain", conc_ug_ml=1000, weight_g=70000,  # no vitals gate
                         rate_ug_kg_h=200, duration_min=120, syringe="bd_plastipak_50")
            pump.start()
        with pytest.raises(flash.FlashError, match="is running: stop it"):
            flash.flash("RPI_PICO", vb.port, run=lambda *a, **k: None, boot_wait_s=0)
