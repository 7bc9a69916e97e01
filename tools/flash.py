"""Build the firmware for a board, put it on the board with mpremote, and ask it who it is.

    python -m tools.flash RPI_PICO /dev/ttyACM0      # make flash BOARD=RPI_PICO PORT=/dev/ttyACM0
    RPI_PICO: 30 modules, 49,783 bytes of .mpy, 5,283 bytes of data -> build/RPI_PICO
    deployed to /dev/ttyACM0; the board answers ID: fw=0.1.0 board=RPI_PICO state=idle

A board already running the pump firmware has its watchdog running, and a watchdog cannot be
stopped: interrupted by mpremote, it would reset the board about two seconds into the copy. So
first, if the firmware answers: the pump must be idle with no syringe loaded; it is put in the
SERVICE state and sent `SERVICE action=flash`, which hands the watchdog to a hardware timer and
stops main.py's loop (firmware/service.py). The deploy then copies build/<BOARD>/ to the
board's filesystem root (firmware/ as .mpy files, board.json, and a main.py that boots
firmware.main from /board.json) in an mpremote session that does not soft-reset the board
(`resume`: a soft reset would stop the timer), then resets it. The check opens the port with
the HIL client and sends the operator protocol's ID: a board that does not answer in time is an
error, with what to look at. A board that was not in SERVICE before is taken out of it again.
A board that does not answer before the copy (a fresh board, no pump firmware yet) is copied to
as it is.
"""

import subprocess
import sys
import time

from hil import ports
from tools import build as builder

BOOT_WAIT_S = 3.0
ID_TIMEOUT_S = 3.0


class FlashError(Exception):
    pass


def check_port(port: str | None) -> str:
    """A port the user can fix: missing, or a device path that is not there or not free."""
    if not port:
        raise FlashError("no PORT given: make flash BOARD=RPI_PICO PORT=/dev/ttyACM0 "
                         "(serial ports on this machine: %s)" % ports.list_ports())
    try:
        return ports.check_port(port, "board", "PORT=")
    except ports.PortError as e:
        raise FlashError(str(e)) from e


def _open(open_client):
    if open_client is not None:
        return open_client
    from hil.client import PumpClient

    return PumpClient.open


def prepare(port: str, open_client=None, timeout_s: float = ID_TIMEOUT_S):
    """Stop a running pump firmware safely before the copy (see the module docstring).

    Returns whether the pump was in SERVICE already, or None when no pump firmware answered."""
    from hil.client import PumpError

    try:
        client = _open(open_client)(port, timeout_s=timeout_s)
    except Exception:  # noqa: BLE001 - no answer: a fresh board, nothing runs to be stopped
        print("no pump firmware answers on %s: copying to the board as it is" % port)
        return None
    try:
        st = client.status()
        if st["state"] != "idle":
            raise FlashError("the pump on %s is %s: stop it (STOP, or ACK then STOP) before re-flashing"
                             % (port, st["state"]))
        was_in_service = st.get("service") == "on"
        if not was_in_service:
            client.command("SERVICE", action="enter")
        client.command("SERVICE", action="flash")
        return was_in_service
    except PumpError as e:
        if e.code == "UNKNOWN_COMMAND":
            print("the firmware on %s has no SERVICE command: its watchdog may reset the board during the "
                  "copy; if the copy fails, hold BOOTSEL (Pico) and flash MicroPython afresh" % port)
            return None
        if e.code == "NOT_READY":
            raise FlashError("take the syringe out of the pump on %s before re-flashing (%s)" % (port, e)) from e
        raise FlashError("the pump on %s refused maintenance: %s" % (port, e)) from e
    finally:
        client.close()


def mpremote_command(port: str, out_dir) -> list[str]:
    """One mpremote session, without mpremote's automatic soft reset (it would stop the timer
    that feeds the watchdog): copy the image to the board's root, then reset it."""
    return [sys.executable, "-m", "mpremote", "connect", port, "resume",
            "cp", "-r", str(out_dir / "firmware"), ":", "+",
            "cp", str(out_dir / "board.json"), ":board.json", "+",
            "cp", str(out_dir / "main.py"), ":main.py", "+",
            "reset"]


def deploy(port: str, out_dir, run=subprocess.run) -> None:
    proc = run(mpremote_command(port, out_dir), capture_output=True, text=True)
    if proc.returncode != 0:
        raise FlashError("mpremote could not copy to %s (exit %d): %s\nIs another program (a serial monitor, "
                         "Thonny) holding the port?" % (port, proc.returncode, (proc.stderr or proc.stdout).strip()[-800:]))


def verify(port: str, open_client=None, timeout_s: float = ID_TIMEOUT_S, leave_service: bool = False) -> dict:
    """Ask the board to identify itself over the operator protocol (and take it out of SERVICE
    when it was not in SERVICE before the flash)."""
    try:
        client = _open(open_client)(port, timeout_s=timeout_s)
    except Exception as e:  # noqa: BLE001 - whatever went wrong, the user needs the same advice
        raise FlashError("no board answered ID on %s: %s. Check that main.py booted (mpremote connect %s repl "
                         "shows its traceback)" % (port, e, port)) from e
    try:
        answer = dict(client.identify())
        if leave_service:
            client.command("SERVICE", action="leave")
        return answer
    except Exception as e:  # noqa: BLE001
        raise FlashError("no board answered ID on %s: %s. Check that main.py booted (mpremote connect %s repl "
                         "shows its traceback)" % (port, e, port)) from e
    finally:
        client.close()


def flash(board: str, port: str | None, run=subprocess.run, open_client=None, boot_wait_s: float = BOOT_WAIT_S) -> dict:
    port = check_port(port)
    result = builder.build(board)
    print(builder.summary_line(result))
    was_in_service = prepare(port, open_client)
    deploy(port, result["out"], run)
    time.sleep(boot_wait_s)
    return verify(port, open_client, leave_service=was_in_service is False)


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print("usage: python -m tools.flash BOARD PORT   (e.g. RPI_PICO /dev/ttyACM0)", file=sys.stderr)
        return 2
    board, port = argv[0], (argv[1] if len(argv) > 1 else None)
    try:
        answer = flash(board, port)
    except (FlashError, builder.BuildError) as e:
        print("flash: %s" % e, file=sys.stderr)
        return 1
    print("deployed to %s; the board answers ID: %s" % (port, " ".join("%s=%s" % kv for kv in answer.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
