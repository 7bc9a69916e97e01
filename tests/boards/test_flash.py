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
