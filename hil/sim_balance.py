"""A simulated MT-SICS lab balance on a pseudo-terminal: the bench balance's twin for CI.

The simulator weighs whatever `mass_g_at()` says is on the pan, adds reading noise, rounds
to the readability and answers MT-SICS commands on a pty, so the harness's Balance client
talks to it exactly as to a balance on /dev/ttyUSB0:

    load_g = [52.30]                     # an empty beaker on the pan
    with SimulatedBalance(lambda: load_g[0], noise_g=0.0) as sim:
        with Balance(sim.port) as balance:
            balance.tare()              # T S      52.30 g
            load_g[0] += 1.25           # the pump delivered 1.25 mL of water
            balance.weight_immediate()  # S D       1.25 g  (dynamic: the load just moved)

A background thread reads commands from the pty's master side and samples the load every
few tens of milliseconds; a reading is dynamic while the load moved by more than one
readability step within the stability window. S waits (up to a time-out) for stability
and answers `S I` if it never comes; Z zeroes (within +/-2 % of capacity) and T tares once
stable; ZI zeroes at once; zeroing clears the tare. Optional
evaporation takes a constant mass per minute off the load. Figures (readability, capacity,
noise, stability window) come from hil/data/sim_balance.json; any of them can be overridden.
"""

from __future__ import annotations

import json
import os
import random
import select
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Callable

from hil import mtsics

SIM_BALANCE_PATH = Path(__file__).parent / "data" / "sim_balance.json"
POLL_S = 0.02
MAX_LINE_BYTES = 256
SOFTWARE_VERSION = "1.00"


@dataclass(frozen=True)
class BalanceModel:
    """The figures that make one simulated balance: readability, range, noise, stability."""

    readability_g: float
    capacity_g: float
    noise_g: float
    stability_window_s: float
    stability_timeout_s: float
    zero_range_fraction: float
    name: str = "custom"
    display: str = "simulated balance"

    @property
    def decimals(self) -> int:
        """Digits after the point: 0.01 g -> 2, 0.0001 g -> 4."""
        exponent = Decimal(str(self.readability_g)).normalize().as_tuple().exponent
        return max(0, -int(exponent))


def load_model(name: str | None = None, path: Path = SIM_BALANCE_PATH) -> BalanceModel:
    """A balance model from the data file ('precision' 0.01 g or 'analytical' 0.1 mg)."""
    table = json.loads(Path(path).read_text())
    chosen: str = name or table["default"]
    if chosen not in table["models"]:
        raise ValueError(f"no balance model {chosen!r}; choose one of {', '.join(sorted(table['models']))}")
    entry = table["models"][chosen]
    return BalanceModel(
        readability_g=float(entry["readability_g"]),
        capacity_g=float(entry["capacity_g"]),
        noise_g=float(entry["noise_g"]),
        stability_window_s=float(table["stability_window_s"]),
        stability_timeout_s=float(table["stability_timeout_s"]),
        zero_range_fraction=float(table["zero_range_fraction"]),
        name=chosen,
        display=entry["display"],
    )


class SimulatedBalance:
    """An MT-SICS balance served on a pty; `.port` is the path a client opens."""

    def __init__(
        self,
        mass_g_at: Callable[[], float],
        noise_g: float | None = None,
        seed: int = 0,
        readability_g: float | None = None,
        model: str | BalanceModel | None = None,
        evaporation_g_min: float = 0.0,
        serial_number: str = "SIM0000001",
        clock: Callable[[], float] = time.monotonic,
        **model_overrides: float,
    ) -> None:
        base = model if isinstance(model, BalanceModel) else load_model(model)
        if noise_g is not None:
            model_overrides["noise_g"] = noise_g
        if readability_g is not None:
            model_overrides["readability_g"] = readability_g
        self.model = replace(base, **model_overrides)
        _check_model(self.model, evaporation_g_min)
        self._mass_g_at = mass_g_at
        self._random = random.Random(seed)
        self._evaporation_g_min = evaporation_g_min
        self._serial_number = serial_number
        self._clock = clock
        self._t_start = clock()
        self._zero_offset_g = 0.0
        self._tare_g = 0.0
        self._history: deque[tuple[float, float]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._master_fd = self._slave_fd = -1

    # Serving on the pty ---------------------------------------------------------------------

    @property
    def port(self) -> str:
        """Path of the pty's slave side, e.g. /dev/pts/5; valid after start()."""
        if self._slave_fd < 0:
            raise RuntimeError("the simulated balance has no port until start() is called")
        return os.ttyname(self._slave_fd)

    def start(self) -> SimulatedBalance:
        if self._thread is not None:
            return self
        self._master_fd, self._slave_fd = os.openpty()
        # Raw mode: no echo, no CR/LF translation, before any client opens the slave.
        tty.setraw(self._slave_fd)
        self._t_start = self._clock()
        self._failure = None
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="simulated-balance", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the pty; re-raise anything that broke the server thread."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        os.close(self._master_fd)
        os.close(self._slave_fd)
        self._master_fd = self._slave_fd = -1
        if self._failure is not None:
            raise RuntimeError(f"the simulated balance stopped serving: {self._failure!r}") from self._failure

    def __enter__(self) -> SimulatedBalance:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        try:
            self._serve_until_stopped()
        except BaseException as failure:  # e.g. mass_g_at raised: report it at stop()
            self._failure = failure

    def _serve_until_stopped(self) -> None:
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master_fd], [], [], POLL_S)
            self._sample()
            if not ready:
                continue
            pending += os.read(self._master_fd, 1024)
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                self._send(self.respond_bytes(line))
            if len(pending) > MAX_LINE_BYTES:
                pending = b""
                self._send("ET")

    def _send(self, reply: str) -> None:
        os.write(self._master_fd, (reply + mtsics.LINE_END).encode("ascii"))

    # The balance itself: one command line in, one reply line out ------------------------------

    def respond_bytes(self, line: bytes) -> str:
        """Reply to a raw command line (CR optional); bytes that are not ASCII get ET."""
        try:
            text = line.rstrip(b"\r").decode("ascii")
        except UnicodeDecodeError:
            return "ET"
        return self.respond(text)

    def respond(self, command_line: str) -> str:
        """The reply line (without CR LF) a balance gives to one command."""
        handlers = {
            "S": self._stable_weight,
            "SI": self._immediate_weight,
            "Z": self._zero,
            "ZI": self._zero_immediately,
            "T": self._tare,
            "@": lambda: mtsics.format_reply("I4", mtsics.EXECUTED, self._serial_number),
            "I1": lambda: mtsics.format_reply("I1", mtsics.EXECUTED, "01", "2.20", "2.20", "2.20", "1.00"),
            "I2": self._balance_data,
            "I3": lambda: mtsics.format_reply("I3", mtsics.EXECUTED, SOFTWARE_VERSION),
            "I4": lambda: mtsics.format_reply("I4", mtsics.EXECUTED, self._serial_number),
        }
        handler = handlers.get(command_line)
        return handler() if handler is not None else "ES"

    def _immediate_weight(self) -> str:
        gross_g = self._sample()
        refusal = self._range_refusal("S", gross_g)
        if refusal:
            return refusal
        status = mtsics.STABLE if self._is_stable() else mtsics.DYNAMIC
        return self._weight_line("S", status, self._net_reading_g(gross_g))

    def _stable_weight(self) -> str:
        gross_g = self._wait_for_stability()
        if gross_g is None:
            return mtsics.format_reply("S", mtsics.NOT_EXECUTABLE)
        return self._range_refusal("S", gross_g) or self._weight_line(
            "S", mtsics.STABLE, self._net_reading_g(gross_g)
        )

    def _zero(self) -> str:
        gross_g = self._wait_for_stability()
        if gross_g is None:
            return mtsics.format_reply("Z", mtsics.NOT_EXECUTABLE)
        return self._set_zero("Z", gross_g, mtsics.EXECUTED)

    def _zero_immediately(self) -> str:
        gross_g = self._sample()
        status = mtsics.STABLE if self._is_stable() else mtsics.DYNAMIC
        return self._set_zero("ZI", gross_g, status)

    def _tare(self) -> str:
        gross_g = self._wait_for_stability()
        if gross_g is None:
            return mtsics.format_reply("T", mtsics.NOT_EXECUTABLE)
        tare_g = gross_g - self._zero_offset_g
        if tare_g > self.model.capacity_g:
            return mtsics.format_reply("T", mtsics.OVERLOAD)
        if tare_g < 0:
            return mtsics.format_reply("T", mtsics.UNDERLOAD)
        self._tare_g = tare_g
        return self._weight_line("T", mtsics.STABLE, tare_g)

    def _set_zero(self, command: str, gross_g: float, status: str) -> str:
        zero_range_g = self.model.zero_range_fraction * self.model.capacity_g
        if gross_g > zero_range_g:
            return mtsics.format_reply(command, mtsics.OVERLOAD)
        if gross_g < -zero_range_g:
            return mtsics.format_reply(command, mtsics.UNDERLOAD)
        self._zero_offset_g = gross_g
        self._tare_g = 0.0
        return mtsics.format_reply(command, status)

    def _balance_data(self) -> str:
        capacity = f"{self.model.capacity_g:.{self.model.decimals}f}"
        # Type and capacity, as in 'I2 A "XS204 Excellence 220.0090 g"'.
        return mtsics.format_reply("I2", mtsics.EXECUTED, f"SIM-{self.model.name.upper()} {capacity} g")

    def _range_refusal(self, command: str, gross_g: float) -> str:
        zero_range_g = self.model.zero_range_fraction * self.model.capacity_g
        if gross_g > self.model.capacity_g:
            return mtsics.format_reply(command, mtsics.OVERLOAD)
        if gross_g < -zero_range_g:
            return mtsics.format_reply(command, mtsics.UNDERLOAD)
        return ""

    def _net_reading_g(self, gross_g: float) -> float:
        """What the display shows: load less zero and tare, plus this reading's noise."""
        return gross_g - self._zero_offset_g - self._tare_g + self._random.gauss(0.0, self.model.noise_g)

    def _weight_line(self, command: str, status: str, value_g: float) -> str:
        steps = round(value_g / self.model.readability_g)
        return mtsics.format_weight_reply(command, status, steps * self.model.readability_g, "g", self.model.decimals)

    # Load and stability --------------------------------------------------------------------------

    def _sample(self) -> float:
        """The load now (after evaporation), remembered for the stability detector."""
        now_s = self._clock()
        evaporated_g = self._evaporation_g_min * (now_s - self._t_start) / 60.0
        gross_g = float(self._mass_g_at()) - evaporated_g
        self._history.append((now_s, gross_g))
        while self._history and self._history[0][0] < now_s - self.model.stability_window_s:
            self._history.popleft()
        return gross_g

    def _is_stable(self) -> bool:
        loads_g = [load for _, load in self._history]
        return max(loads_g) - min(loads_g) <= self.model.readability_g

    def _wait_for_stability(self) -> float | None:
        """The load once stable, or None after the stability time-out."""
        # Bounded by both clocks so that a test's frozen clock cannot hang the server.
        deadline_clock = self._clock() + self.model.stability_timeout_s
        deadline_real = time.monotonic() + self.model.stability_timeout_s
        while True:
            gross_g = self._sample()
            if self._is_stable():
                return gross_g
            if self._clock() >= deadline_clock or time.monotonic() >= deadline_real:
                return None
            if self._stop.wait(POLL_S):
                return None


def _check_model(model: BalanceModel, evaporation_g_min: float) -> None:
    positive = {
        "readability_g": model.readability_g,
        "capacity_g": model.capacity_g,
        "stability_window_s": model.stability_window_s,
        "stability_timeout_s": model.stability_timeout_s,
    }
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive; got {value!r}")
    if model.noise_g < 0 or evaporation_g_min < 0:
        raise ValueError(
            f"noise_g and evaporation_g_min must be >= 0; got {model.noise_g!r} and {evaporation_g_min!r}"
        )
