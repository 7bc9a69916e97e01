"""The virtual board: the simulation engine's board process, its command link on a pty.

    python -m hil virtual [--runtime micropython|cpython] [--speed 1.0]

starts the firmware (by default in the real `micropython` interpreter, over the sim bus),
prints the pty path of its command link, and serves until stopped. Any serial terminal or the
harness can attach to that path. It is the simulator's engine (sim/engine.py) with the same
board process, backend and power cut; what differs is who types on the link (the pty's host,
not a scripted operator) and the pace: `--speed` simulated seconds per wall second on
`sim.engine.Paced` (a `simpy.rt.RealtimeEnvironment`), 0 for as fast as it can go.

The plant is injectable (the bench passes the simulator's `sim.board_plant.BoardPlant`); until
one is given, `ConstantPlant` serves (a syringe that moves as stepped against a constant
force). A test's hands reach into the running simulation between two ticks through
`pause_then`, `schedule` and `power_cycle`: the bench-hands process runs them in the engine's
own thread.
"""

import collections
import sys
import threading

from hil.pty_link import PtyLink
from firmware.hal.simbus import SWITCH_PLUNGER, SWITCH_SYRINGE
from sim.board import BoardProcess
from sim.board_backend import ROOT, open_backend
from sim.engine import ACT, Paced, Wake, now_ms

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

    def rebase(self, position: int) -> None:
        self.position = position


class VirtualBoard:
    """The engine serving one board on a pty: `serve_forever()`, or `start()` in a thread."""

    def __init__(self, runtime: str = "micropython", plant=None, speed: float = 0.0,
                 board: str = "VIRTUAL", storage_dir=None, backend=None, tick_ms: int | None = None) -> None:
        from firmware.board import Board

        self.backend = backend if backend is not None else open_backend(runtime, board, storage_dir)
        self.plant = plant if plant is not None else ConstantPlant()
        self.link = PtyLink()
        self.port = self.link.path
        self.corrupt_answers = 0  # fault injection: damage this many answer lines on the way out
        self.env = Paced(speed, wake_fd=self.link.master_fd)
        self.board = BoardProcess(self.env, self.backend, self.plant, self, tick_ms or Board.load(board).tick_ms)
        self._requests: collections.deque = collections.deque()  # (action, done, failure) from other threads
        self._stop = threading.Event()
        self._thread = None
        self.error = None
        self._hands = self.env.process(self._bench_hands())

    @property
    def t_ms(self) -> int:
        return now_ms(self.env)

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second (0: as fast as it can go)."""
        return self.env.speed

    @property
    def outputs(self):
        return self.board.outputs

    # ---- the board's link -------------------------------------------------------------------
    def take_rx(self) -> bytes:
        return self.link.read_available()

    def put_tx(self, tx: bytes) -> None:
        if self.corrupt_answers:
            tx = self._corrupt_first_answer(tx)
        self.link.write_lines(tx)

    def _corrupt_first_answer(self, tx: bytes) -> bytes:
        lines = tx.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if not line.startswith(b"!"):
                lines[i] = line[:2] + bytes([line[2] ^ 0x20]) + line[3:]
                self.corrupt_answers -= 1
                break
        return b"".join(lines)

    # ---- a test's hands, between ticks ---------------------------------------------------------
    def _bench_hands(self):
        """Each tick: run what other threads asked for (an action may hand back an event to wait
        for, as a power cut does until the board is back); stop when asked to."""
        while not self._stop.is_set():
            yield Wake(self.env, self.board.tick_ms, ACT)
            while self._requests:
                action, done, failure = self._requests.popleft()
                try:
                    waited = action()
                    if waited is not None:
                        yield waited
                except Exception as e:  # handed back to the caller, the board keeps serving
                    failure.append(e)
                done.set()

    def _ask(self, action, timeout_s: float, what: str) -> None:
        """Have the serving thread run action() between two ticks, and wait until it has."""
        done = threading.Event()
        failure: list[BaseException] = []
        self._requests.append((action, done, failure))
        if self._thread is None:  # nobody serving: run the engine here until it is done
            while not done.is_set():
                self.env.step()
        elif not done.wait(timeout_s):
            raise TimeoutError(f"the virtual board did not {what}")
        if failure:
            raise failure[0]

    def pause_then(self, action, timeout_s: float = 10.0) -> None:
        """Run `action` in the serving thread between two ticks (e.g. to swap the plant's syringe)."""
        def act():
            action()

        self._ask(act, timeout_s, "run the requested action")

    def power_cycle(self, off_s: float, timeout_s: float = 30.0) -> None:
        """Cut the board's power for off_s of simulated time, then boot it again. What the
        firmware keeps is what its storage kept."""
        self._ask(lambda: self.board.power_cut(int(off_s * 1000)), timeout_s, "come back from the power cut")

    def schedule(self, t_ms: int, action) -> None:
        """Run `action` in the serving thread when simulated time reaches t_ms (time stands still
        while it runs, so a measurement taken there has an exact time stamp)."""
        def at_time():
            yield Wake(self.env, max(0, t_ms - now_ms(self.env)), ACT)
            action()

        def start():
            self.env.process(at_time())

        self._requests.append((start, threading.Event(), []))

    def set_speed(self, speed: float) -> None:
        """Change the pace from now on (pacing is measured from this moment)."""
        self.env.set_speed(speed)

    def tick(self):
        """One tick of the board, when nothing serves it in a thread (a probe stepping the chip)."""
        self.env.run(until=now_ms(self.env) + self.board.tick_ms)
        return self.board.outputs

    # ---- serving ------------------------------------------------------------------------------
    def serve_forever(self) -> None:
        self.env.set_speed(self.env.speed)  # the pace counts from now
        try:
            self.env.run(until=self._hands)
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
        self.backend.quit()
        self.link.close()

    def __enter__(self) -> "VirtualBoard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def speed_error(speed: float) -> str | None:
    """The one message for a bad --speed (the virtual board, the emulated Pico, the rig)."""
    if speed < 0:
        return f"error: --speed {speed}: allowed 0 (as fast as possible) or more"
    return None


def serve_until_interrupted(serve, close, *banner: str) -> int:
    """Print the banner lines, serve until Ctrl-C, close; the exit code of a clean stop."""
    for line in banner:
        print(line, flush=True)
    try:
        serve()
    except KeyboardInterrupt:
        pass
    finally:
        close()
    return 0


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m hil virtual", description="Serve the virtual board on a pty.")
    ap.add_argument("--runtime", choices=("micropython", "cpython"), default="micropython")
    ap.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (0: as fast as possible)")
    ap.add_argument("--board", default="VIRTUAL")
    args = ap.parse_args(argv)
    if speed_error(args.speed):
        print(speed_error(args.speed), file=sys.stderr)
        return 2
    try:
        vb = VirtualBoard(args.runtime, speed=args.speed, board=args.board)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return serve_until_interrupted(vb.serve_forever, vb.close,
                                   f"virtual board ({vb.backend.version}) command link: {vb.port}",
                                   "attach a serial terminal or the harness to that path; Ctrl-C stops")
