"""The bench a test runs on: a real board (and balance) on serial ports, or the virtual board.

Tests ask the bench for what they need, never for a concrete device:

- `pump_url`: where the pump's command link is (a port, a pty, socket://...);
- `balance_url`: the lab balance under the line's outlet (real, or the simulated twin on a pty,
  fed by the simulated plant);
- `clock_s()`: the bench's time (wall time on a bench; the virtual board's simulated time);
- `plant`: the simulated syringe and line (None on a real bench);
- the hands: `load_syringe()`, `close_clamp()`, `open_clamp()`, `remove_syringe()`,
  `power_cycle()`: the simulated plant does them on the virtual board; on a real bench the
  bench procedure (hil/procedure.py) prompts the operator or drives the rig's relays;
- `for_delivery(pump, rx)`: the prescription a delivery test programs. On a real bench that is
  the same volume and rate on the drug library's test-only water profile, in the pump's SERVICE
  state (firmware/service.py), so case after case never meets the clinical 24-hour limit; on the
  virtual board (fresh for each test) the clinical prescription itself.

The same acceptance tests therefore run unchanged against a Pico on /dev/ttyACM0 and against
the firmware in MicroPython in CI; a test that needs hands a bench was not given (no
--operator, no --fixture) says so and is skipped.
"""

from __future__ import annotations

import time
from pathlib import Path

from hil.sim_balance import SimulatedBalance


# The test-only profile standing for each clinical one (firmware/data/drug_library.json).
TEST_PROFILES = {"depression": "bench_dose", "pain": "bench_rate"}
TEST_DRUG = "water"


class RealBench:
    kind = "bench"
    plant = None

    def __init__(self, pump_url: str, balance_url: str | None, board: str, procedure=None) -> None:
        self.pump_url = pump_url
        self.balance_url = balance_url
        self.board = board
        self.procedure = procedure  # hil.procedure: the operator or the rig; None: no hands

    def prepare(self, client) -> None:
        """A real board keeps its state between tests: bring it back to idle, out of SERVICE."""
        st = client.status()
        if st["state"] == "alarm":
            client.acknowledge()
            st = client.status()
        if st["state"] != "idle":
            client.stop()
        if st.get("service") == "on":
            client.command("SERVICE", action="leave")

    def for_delivery(self, pump, rx: dict) -> dict:
        """The same volume and rate on water, in SERVICE (entered here, left by prepare())."""
        if pump.status().get("service") != "on":
            pump.command("SERVICE", action="enter")
        return dict(rx, drug=TEST_DRUG, profile=TEST_PROFILES[rx["profile"]])

    def _hands(self, step: str, **params) -> None:
        import pytest

        from hil.procedure import STEPS, Declined

        if self.procedure is None:
            pytest.skip(f"needs hands on the bench ({STEPS[step][0].format(**params)}): "
                        "run with --operator, or --fixture FILE for a rig")
        try:
            self.procedure.do(step, **params)
        except Declined as e:
            pytest.skip(str(e))

    def connect_balance(self) -> None:
        """Once a session: the line's outlet into the balance's vessel."""
        if not getattr(self.procedure, "balance_connected", False):
            self._hands("connect_balance")
            self.procedure.balance_connected = True  # type: ignore[union-attr]

    def load_syringe(self, syringe: str, fill_ml: float) -> None:
        self._hands("load_syringe", syringe=syringe, fill_ml=round(fill_ml, 2))

    def close_clamp(self, pump) -> int:
        """The line clamped; returns when, on the pump's clock (ms): when the step was asked
        for, so a time to alarm measured from it is never shorter than the true one."""
        asked_ms = pump.status()["t_ms"]
        self._hands("close_clamp")
        return asked_ms

    def open_clamp(self) -> None:
        self._hands("open_clamp")

    def remove_syringe(self) -> None:
        self._hands("remove_syringe")

    def power_cycle(self, off_s: float, pump) -> None:
        """Power cut by hand or relay; then the pump's port is opened again (a USB board comes
        back as a new device) and the client reconnects."""
        self._hands("cut_power", off_s=off_s)
        deadline = time.monotonic() + 60
        while True:
            try:
                pump.port.close()
                pump.port.open()
                pump.connect()
                return
            except Exception:  # noqa: BLE001 - the board is still booting or enumerating
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

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

    def set_speed(self, speed: float) -> None:
        pass  # a real bench runs in real time

    def close(self) -> None:
        pass  # the procedure lives as long as the session (closed by the plugin)


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

    def prepare(self, client) -> None:
        pass  # fresh for each test

    def for_delivery(self, pump, rx: dict) -> dict:
        return rx

    def connect_balance(self) -> None:
        pass  # the simulated balance weighs the plant's outflow from the start

    def close_clamp(self, pump=None) -> int:
        """The line occluded between two ticks; returns when, on the board's clock (ms)."""
        at_ms: list[int] = []
        self.vb.pause_then(lambda: (self.plant.plant.occlude(), at_ms.append(self.vb.t_ms)))
        return at_ms[0]

    def open_clamp(self) -> None:
        self.vb.pause_then(self.plant.plant.release_occlusion)

    def remove_syringe(self) -> None:
        self.vb.pause_then(self.plant.plant.remove_syringe)

    def clock_s(self) -> float:
        return self.vb.t_ms / 1000.0

    def wait_s(self, seconds: float) -> None:
        """Let `seconds` of bench time pass (simulated time on the virtual board)."""
        end = self.clock_s() + seconds
        while self.clock_s() < end:
            if self.vb.error is not None:
                raise RuntimeError(f"the virtual board stopped: {self.vb.error}")
            time.sleep(0.002)

    def power_cycle(self, off_s: float, pump=None) -> None:
        """Cut the power for off_s of simulated time; the pty stays, so the client reconnects."""
        self.vb.power_cycle(off_s)
        if pump is not None:
            pump.connect()

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
