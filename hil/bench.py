"""The bench a test runs on: a real board (and balance) on serial ports, or the virtual board.

Tests ask the bench for what they need, never for a concrete device:

- `pump_url`: where the pump's command link is (a port, a pty, socket://...);
- `balance_url`: the lab balance under the line's outlet (real, or the simulated twin on a pty,
  fed by the simulated plant);
- `clock_s()`: the bench's time (wall time on a bench; the virtual board's simulated time);
- `plant`: the simulated syringe and line (None on a real bench), for what only a simulator
  can do on demand: close the line, pull the syringe, cut the power.

The same acceptance tests therefore run unchanged against a Pico on /dev/ttyACM0 and against
the firmware in MicroPython in CI; a test that needs hands it does not have on a bench says so
and is skipped.
"""

from __future__ import annotations

import time
from pathlib import Path

from hil.sim_balance import SimulatedBalance


class RealBench:
    kind = "bench"
    plant = None

    def __init__(self, pump_url: str, balance_url: str | None, board: str) -> None:
        self.pump_url = pump_url
        self.balance_url = balance_url
        self.board = board

    def clock_s(self) -> float:
        return time.monotonic()

    def wait_s(self, seconds: float) -> None:
        time.sleep(seconds)

    def sample_every(self, interval_s: float, count: int, read, timeout_s: float | None = None) -> list:
        """`count` readings of read(), interval_s apart from now: [(t_s, value)]."""
        t0 = time.monotonic()
        out = []
        for i in range(count):
            target = t0 + i * interval_s
            while time.monotonic() < target:
                time.sleep(min(0.5, target - time.monotonic()))
            out.append((time.monotonic() - t0, read()))
        return out

    def load_syringe(self, syringe: str, fill_ml: float) -> None:
        import pytest

        pytest.skip(f"needs a {syringe} syringe loaded by hand (run this case on its own with it loaded)")

    def set_speed(self, speed: float) -> None:
        pass  # a real bench runs in real time

    def close(self) -> None:
        pass


class VirtualBench:
    """The firmware in MicroPython (or CPython) in lockstep with the simulated plant, its command
    link on a pty, and a simulated MT-SICS balance on another pty weighing the plant's outflow."""

    kind = "virtual"

    def __init__(self, board: str = "VIRTUAL", runtime: str = "micropython", seed: int = 1,
                 syringe: str = "bd_plastipak_50", fill_ml: float = 50.0, speed: float = 0.0,
                 storage_dir: Path | None = None) -> None:
        from hil.virtual_board import VirtualBoard
        from sim.board_plant import BoardPlant

        self.board = board
        self.plant = BoardPlant(syringe=syringe, fill_ml=fill_ml, board=board, seed=seed)
        self.vb = VirtualBoard(runtime, plant=self.plant, speed=speed, board=board, storage_dir=storage_dir).start()
        self.pump_url = self.vb.port
        self.balance = SimulatedBalance(self.plant.mass_g, seed=seed, model="analytical").start()
        self.balance_url = self.balance.port

    def clock_s(self) -> float:
        return self.vb.t_ms / 1000.0

    def wait_s(self, seconds: float) -> None:
        """Let `seconds` of bench time pass (simulated time on the virtual board)."""
        end = self.clock_s() + seconds
        while self.clock_s() < end:
            if self.vb.error is not None:
                raise RuntimeError(f"the virtual board stopped: {self.vb.error}")
            time.sleep(0.002)

    def power_cycle(self, off_s: float) -> None:
        self.vb.power_cycle(off_s)

    def sample_every(self, interval_s: float, count: int, read, timeout_s: float = 600.0) -> list:
        """`count` readings of read(), interval_s of simulated time apart from now, each taken
        while simulated time stands still: [(t_s, value)] with exact time stamps."""
        import threading

        out: list = []
        done = threading.Event()
        t0 = self.vb.t_ms

        def take(i: int) -> None:
            out.append(((self.vb.t_ms - t0) / 1000.0, read()))
            if i == count - 1:
                done.set()

        for i in range(count):
            self.vb.schedule(t0 + round(i * interval_s * 1000), lambda i=i: take(i))
        if not done.wait(timeout_s):
            raise TimeoutError(f"{len(out)} of {count} samples in {timeout_s} s")
        return out

    def load_syringe(self, syringe: str, fill_ml: float) -> None:
        """Load another (purged) syringe, as a tester would between tests."""
        self.vb.pause_then(lambda: self.plant.load_syringe(syringe, fill_ml))

    def set_speed(self, speed: float) -> None:
        """Simulated seconds per wall second from now on (0: as fast as possible)."""
        self.vb.set_speed(speed)

    def close(self) -> None:
        self.balance.stop()
        self.vb.close()
