"""Build the firmware for a board, put it on the board with mpremote, and ask it who it is.

    python -m tools.flash RPI_PICO /dev/ttyACM0      # make flash BOARD=RPI_PICO PORT=/dev/ttyACM0
    RPI_PICO: 30 modules, 49,783 bytes of .mpy, 5,283 bytes of data -> build/RPI_PICO
    deployed to /dev/ttyACM0; the board answers ID: fw=0.1.0 board=RPI_PICO state=idle

The deploy copies build/<BOARD>/ to the board's filesystem root (firmware/ as .mpy files,
board.json, and a main.py that boots firmware.main from /board.json), then resets the board.
The check opens the port with the HIL client and sends the operator protocol's ID: a board
that does not answer in time is an error, with what to look at.
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


def mpremote_command(port: str, out_dir) -> list[str]:
    """One mpremote session: copy the image to the board's root, then reset it."""
    return [sys.executable, "-m", "mpremote", "connect", port,
            "cp", "-r", str(out_dir / "firmware"), ":", "+",
            "cp", str(out_dir / "board.json"), ":board.json", "+",
            "cp", str(out_dir / "main.py"), ":main.py", "+",
            "reset"]


def deploy(port: str, out_dir, run=subprocess.run) -> None:
    proc = run(mpremote_command(port, out_dir), capture_output=True, text=True)
    if proc.returncode != 0:
        raise FlashError("mpremote could not copy to %s (exit %d): %s\nIs another program (a serial monitor, "
                         "Thonny) holding the port?" % (port, proc.returncode, (proc.stderr or proc.stdout).strip()[-800:]))


def verify(port: str, open_client=None, timeout_s: float = ID_TIMEOUT_S) -> dict:
    """Ask the board to identify itself over the operator protocol."""
    if open_client is None:
        from hil.client import PumpClient

        open_client = PumpClient.open
    try:
        client = open_client(port, timeout_s=timeout_s)
    except Exception as e:  # noqa: BLE001 - whatever went wrong, the user needs the same advice
        raise FlashError("no board answered ID on %s: %s. Check that main.py booted (mpremote connect %s repl "
                         "shows its traceback)" % (port, e, port)) from e
    try:
        return dict(client.identify())
    except Exception as e:  # noqa: BLE001
        raise FlashError("no board answered ID on %s: %s. Check that main.py booted (mpremote connect %s repl "
                         "shows its traceback)" % (port, e, port)) from e
    finally:
        client.close()


def flash(board: str, port: str | None, run=subprocess.run, open_client=None, boot_wait_s: float = BOOT_WAIT_S) -> dict:
    port = check_port(port)
    result = builder.build(board)
    print(builder.summary_line(result))
    deploy(port, result["out"], run)
    time.sleep(boot_wait_s)
    return verify(port, open_client)


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
