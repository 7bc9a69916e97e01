"""The virtual rig: a whole QA bench on ptys, for trying the real-bench path without hardware.

    python -m hil rig [--runtime micropython|cpython] [--speed 100] [--seed 1]

serves the virtual board's command link, the simulated MT-SICS balance under the line's
outlet, and a third port standing for the rig's relay controller, then prints their paths:

    pump: /dev/pts/4  balance: /dev/pts/5  rig: /dev/pts/6
    HIL_RIG_PORT=/dev/pts/6

The acceptance suite then runs against it exactly as against a bench, with the rig's fixture
file answering the bench procedure (hil/data/virtual_rig.toml):

    HIL_RIG_PORT=/dev/pts/6 python -m hil run --port /dev/pts/4 --balance /dev/pts/5 \\
        --fixture hil/data/virtual_rig.toml

The relay controller takes one command a line and answers "OK" (or "ERR <why>"):

    LOAD <syringe> <fill_ml>    a purged syringe of that make and fill in the holder
    CLAMP CLOSE | CLAMP OPEN    the clamp on the line
    SYRINGE OUT                 the syringe pulled out of its holder
    POWER CYCLE <off_s>         the pump's supply cut for off_s, then restored

A real rig's controller (relays on a microcontroller) can take the same lines; the fixture
file says what to send, so another controller only needs another file.

Pace. On this path the harness treats the pump as a real bench does: it polls in wall time
(a second apart in long waits) and its commands take wall time to arrive. The rig therefore
runs at a bounded pace, 100 simulated seconds per wall second by default: a 40 min infusion
in 24 s, and a one-second poll is 100 s of pump time, small beside the minutes the tests wait.
Unbounded (`--speed 0`, hundreds of times real time and varying with the machine's load) a
poll could miss a whole infusion.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

from hil.bench import VirtualBench
from hil.pty_link import PtyLink
from hil.virtual_board import serve_until_interrupted, speed_error

FIXTURE = Path(__file__).resolve().parent / "data" / "virtual_rig.toml"
ENV_PORT = "HIL_RIG_PORT"
DEFAULT_SPEED = 100.0


class VirtualRig:
    def __init__(self, runtime: str = "micropython", seed: int = 1, speed: float = DEFAULT_SPEED) -> None:
        self._storage = tempfile.TemporaryDirectory(prefix="virtual-rig-")
        self.bench = VirtualBench(runtime=runtime, seed=seed, speed=speed, storage_dir=Path(self._storage.name))
        self.pump_port = self.bench.pump_url
        self.balance_port = self.bench.balance_url
        self.control = PtyLink()
        self.port = self.control.path
        self.handled: list[tuple[str, str]] = []  # (command, answer), oldest first
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="virtual-rig", daemon=True)
        self._thread.start()

    def handle(self, line: str) -> str:
        words = line.split()
        b = self.bench
        try:
            match words:
                case ["LOAD", syringe, fill_ml]:
                    b.load_syringe(syringe, float(fill_ml))
                case ["CLAMP", "CLOSE"]:
                    b.close_clamp()
                case ["CLAMP", "OPEN"]:
                    b.open_clamp()
                case ["SYRINGE", "OUT"]:
                    b.remove_syringe()
                case ["POWER", "CYCLE", off_s]:
                    b.power_cycle(float(off_s))
                case _:
                    return "ERR unknown command; LOAD s ml, CLAMP CLOSE|OPEN, SYRINGE OUT, POWER CYCLE s"
        except Exception as e:  # noqa: BLE001 - a relay controller answers ERR and keeps serving
            return f"ERR {type(e).__name__}: {e}"
        return "OK"

    def _serve(self) -> None:
        for raw in self.control.lines(self._stop, 0.1):
            line = raw.decode("ascii", "replace").strip()
            if line:
                answer = self.handle(line)
                self.handled.append((line, answer))
                self.control.write(answer.encode() + b"\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.control.close()
        self.bench.close()
        self._storage.cleanup()

    def __enter__(self) -> "VirtualRig":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m hil rig", description="Serve a virtual QA bench on ptys.")
    ap.add_argument("--runtime", choices=("micropython", "cpython"), default="micropython")
    ap.add_argument("--speed", type=float, default=DEFAULT_SPEED,
                    help=f"simulated seconds per wall second (default {DEFAULT_SPEED:g}; 0: as fast as possible)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if speed_error(args.speed):
        print(speed_error(args.speed), file=sys.stderr)
        return 2
    rig = VirtualRig(args.runtime, args.seed, args.speed)
    return serve_until_interrupted(threading.Event().wait, rig.close,
                                   f"pump: {rig.pump_port}  balance: {rig.balance_port}  rig: {rig.port}",
                                   f"{ENV_PORT}={rig.port}",
                                   f"run: {ENV_PORT}={rig.port} python -m hil run --port {rig.pump_port} "
                                   f"--balance {rig.balance_port} --fixture {FIXTURE}")
