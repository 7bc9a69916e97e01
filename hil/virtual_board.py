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

import sys
import threading
import time

from hil.pty_link import PtyLink
from sim.bus import ROOT, SWITCH_PLUNGER, SWITCH_SYRINGE, BoardOutputs, start_firmware

__all__ = ["ROOT", "ConstantPlant", "VirtualBoard", "main"]


class ConstantPlant:
    """A syringe that moves as stepped against a steady force (with a little load-cell noise, as a
    real HX711 never repeats itself for long): the plant when no simulator plant is given."""

    def __init__(self, force_raw: int = 4200 * 3, samples_per_s: int = 80, noise_counts: int = 20) -> None:
        self.base_raw = force_raw
        self.force_raw = force_raw
        self.noise_counts = noise_counts
        self._lcg = 1
        self.samples_per_s = samples_per_s
        self.samples = 0
        self.switches = SWITCH_SYRINGE | SWITCH_PLUNGER
        self.position = 0
        self.t_ms = 0

    def advance(self, dt_ms: int, position: int) -> None:
        self.t_ms += dt_ms
        self.position = position
        self.samples = self.t_ms * self.samples_per_s // 1000
        self._lcg = (1103515245 * self._lcg + 12345) & 0x7FFFFFFF
        self.force_raw = self.base_raw + (self._lcg >> 16) % (2 * self.noise_counts + 1) - self.noise_counts


class VirtualBoard:
    """Firmware + plant + pty, stepped in lockstep; `serve_forever()` or `start()` in a thread."""

    def __init__(self, runtime: str = "micropython", plant=None, speed: float = 0.0, tick_ms: int = 100,
                 board: str = "VIRTUAL", storage_dir=None) -> None:
        self.runtime = runtime
        self.board = board
        self.storage_dir = storage_dir
        self.firmware = start_firmware(runtime, board, storage_dir)
        self.plant = plant if plant is not None else ConstantPlant()
        self.link = PtyLink()
        self.port = self.link.path
        self.speed = speed
        self.tick_ms = tick_ms
        self.t_ms = 0
        self.outputs = BoardOutputs(0, False, 0)
        self.corrupt_answers = 0  # fault injection: damage this many answer lines on the way out
        self._init_serving()

    def _init_serving(self) -> None:
        """What serving, power cuts and scheduled actions need (also the emulated Pico's)."""
        self._power_cut_s = None
        self._power_restored = threading.Event()
        self._between_ticks: list = []
        self._scheduled: list = []  # (t_ms, action) to run when simulated time reaches t_ms
        self._stop = threading.Event()
        self._thread = None
        self.error = None

    def tick(self) -> BoardOutputs:
        if self._power_cut_s is not None:
            self._power_cycle_now()
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

    def power_cycle(self, off_s: float, timeout_s: float = 30.0) -> None:
        """Cut the board's power for off_s of simulated time, then boot it again (from the serving
        thread, between ticks). What the firmware keeps is what its storage kept."""
        self._power_restored.clear()
        self._power_cut_s = off_s
        if self._thread is None:
            self.tick()
        elif not self._power_restored.wait(timeout_s):
            raise TimeoutError("the virtual board did not come back from the power cut")

    def _power_cycle_now(self) -> None:
        off_ms = int((self._power_cut_s or 0.0) * 1000)
        self.firmware.close()
        for _ in range(off_ms // self.tick_ms):
            self.link.read_available()  # bytes sent to an unpowered board are lost
            self.t_ms += self.tick_ms
            self.plant.advance(self.tick_ms, self.outputs.position)
        self.firmware = start_firmware(self.runtime, self.board, self.storage_dir)
        rebase = getattr(self.plant, "rebase", None)
        if rebase is not None:
            rebase(0)  # the new firmware's STEP counter starts at zero
        self.outputs = BoardOutputs(0, False, 0)
        self._power_cut_s = None
        self._power_restored.set()

    def _corrupt_first_answer(self, tx: bytes) -> bytes:
        lines = tx.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if not line.startswith(b"!"):
                lines[i] = line[:2] + bytes([line[2] ^ 0x20]) + line[3:]
                self.corrupt_answers -= 1
                break
        return b"".join(lines)

    def set_speed(self, speed: float) -> None:
        """Change the pace from now on (pacing is measured from this moment)."""
        self._pace_from = (time.monotonic(), self.t_ms)
        self.speed = speed

    def pause_then(self, action, timeout_s: float = 10.0) -> None:
        """Run `action` in the serving thread between two ticks (e.g. to swap the plant's syringe)."""
        if self._thread is None:
            action()
            return
        done = threading.Event()
        failure: list[BaseException] = []

        def guarded():
            try:
                action()
            except Exception as e:  # handed back to the caller, the board keeps serving
                failure.append(e)

        self._between_ticks.append((guarded, done))
        if not done.wait(timeout_s):
            raise TimeoutError("the virtual board did not run the requested action")
        if failure:
            raise failure[0]

    def schedule(self, t_ms: int, action) -> None:
        """Run `action` in the serving thread when simulated time reaches t_ms (time stands still
        while it runs, so a measurement taken there has an exact time stamp)."""
        self._scheduled.append((t_ms, action))
        self._scheduled.sort(key=lambda item: item[0])

    def serve_forever(self) -> None:
        self._pace_from = (time.monotonic(), self.t_ms)
        try:
            while not self._stop.is_set():
                while self._between_ticks:
                    action, done = self._between_ticks.pop(0)
                    action()
                    done.set()
                while self._scheduled and self._scheduled[0][0] <= self.t_ms:
                    self._scheduled.pop(0)[1]()
                self.tick()
                if self.speed > 0:
                    wall0, sim0 = self._pace_from
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
