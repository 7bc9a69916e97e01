"""A fake of MicroPython's `machine` module for host tests of the board HALs.

Pins remember every value written and read what a test puts in `level` (or asks of `reader`).

Port differences follow MicroPython v1.28.0: `use_port("rp2")` gives the rp2 port's reset
causes (only PWRON_RESET and WDT_RESET exist, ports/rp2/modmachine.c) and its watchdog limit
(ports/rp2/machine_wdt.c: a timeout over 8388 ms is a ValueError, the RP2040's 24-bit counter
at 2 ticks per us); `use_port("esp32")` (the default) the esp32 port's five causes and a
watchdog that only needs a positive timeout (ports/esp32/machine_wdt.c). `WDT(id)` takes id 0.
"""

from typing import Callable

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5

PORTS = {
    "esp32": {"causes": {"PWRON_RESET": 1, "HARD_RESET": 2, "WDT_RESET": 3, "DEEPSLEEP_RESET": 4, "SOFT_RESET": 5},
              "wdt_max_ms": None, "timer_ids": (0, 1, 2, 3)},
    "rp2": {"causes": {"PWRON_RESET": 1, "WDT_RESET": 3}, "wdt_max_ms": 8388, "timer_ids": (-1,)},
}
_ALL_CAUSES = PORTS["esp32"]["causes"]

_state = {"freq": 125_000_000, "reset_cause": PWRON_RESET, "irq_disabled": 0, "port": "esp32"}


def use_port(name: str) -> None:
    """Take on the named port's reset-cause constants and watchdog limit."""
    _state["port"] = name
    causes = PORTS[name]["causes"]
    for constant, value in _ALL_CAUSES.items():
        if constant in causes:
            globals()[constant] = value
        else:
            globals().pop(constant, None)
pins: dict = {}
watchdogs: list = []
uarts: list = []
timers: list = []


def reset() -> None:
    _state.update(freq=125_000_000, reset_cause=1, irq_disabled=0)
    use_port("esp32")
    pins.clear()
    watchdogs.clear()
    uarts.clear()
    timers.clear()


def freq(hz=None):
    if hz is not None:
        _state["freq"] = hz
    return _state["freq"]


def reset_cause() -> int:
    return _state["reset_cause"]


def set_reset_cause(cause: int) -> None:
    _state["reset_cause"] = cause


def disable_irq() -> int:
    _state["irq_disabled"] += 1
    return 7


def enable_irq(state: int) -> None:
    assert state == 7, "enable_irq must get back what disable_irq returned"
    _state["irq_disabled"] -= 1


def irqs_disabled() -> bool:
    return _state["irq_disabled"] > 0


class Pin:
    IN, OUT, OPEN_DRAIN = 0, 1, 2
    PULL_UP, PULL_DOWN = 1, 2
    id: int
    mode: "int | None"
    pull: "int | None"
    level: int
    writes: list
    reads: int
    reader: "Callable[[], int] | None"
    on_write: "Callable[[int], None] | None"

    def __new__(cls, id, mode=-1, pull=-1, *, value=None):
        pin = pins.get(id)
        if pin is None:
            pin = object.__new__(cls)
            pin.id = id
            pin.mode = None
            pin.pull = None
            pin.level = 0
            pin.writes = []
            pin.reads = 0
            pin.reader = None  # a callable returning the level, for pins a device drives
            pin.on_write = None
            pins[id] = pin
        return pin

    def __init__(self, id, mode=-1, pull=-1, *, value=None) -> None:
        if mode != -1:
            self.mode = mode
        if pull != -1:
            self.pull = pull
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            self.reads += 1
            return self.reader() if self.reader is not None else self.level
        self.level = 1 if v else 0
        self.writes.append(self.level)
        if self.on_write is not None:
            self.on_write(self.level)
        return None

    def __repr__(self) -> str:
        return "Pin(%d)" % self.id


class WDT:
    def __init__(self, id=0, timeout=5000) -> None:
        if id != 0:
            raise ValueError("WDT(%d) doesn't exist" % id)
        limit = PORTS[_state["port"]]["wdt_max_ms"]
        if timeout <= 0:
            raise ValueError("WDT timeout too short")
        if limit is not None and timeout > limit:
            raise ValueError("timeout exceeds %d" % limit)
        self.timeout = timeout
        self.feeds = 0
        watchdogs.append(self)

    def feed(self) -> None:
        self.feeds += 1


class Timer:
    """machine.Timer as MicroPython v1.28.0 has it (ports/rp2/machine_timer.c: a soft timer,
    id -1 only; ports/esp32/machine_timer.c: hardware timers 0-3): init(mode=, period= ms,
    callback=), deinit(), ONE_SHOT/PERIODIC. The callback is a scheduled (soft) IRQ that runs
    when the VM is next free: here, when a test calls `run_ms()`, once per elapsed period."""

    ONE_SHOT, PERIODIC = 0, 1

    def __init__(self, id=-1, **kw) -> None:
        if id not in PORTS[_state["port"]]["timer_ids"]:
            raise ValueError("Timer(%d) doesn't exist" % id)
        self.id = id
        self.mode = None
        self.period_ms = 0
        self.callback = None
        self._due_ms = 0
        timers.append(self)
        if kw:
            self.init(**kw)

    def init(self, mode=PERIODIC, period=-1, callback=None, freq=None) -> None:
        if period is None or period <= 0:
            raise ValueError("period")
        self.mode, self.period_ms, self.callback, self._due_ms = mode, period, callback, period

    def deinit(self) -> None:
        self.callback = None

    def run_ms(self, elapsed_ms: int) -> None:
        while self.callback is not None and elapsed_ms >= self._due_ms:
            elapsed_ms -= self._due_ms
            self.callback(self)
            if self.mode == self.ONE_SHOT:
                self.callback = None
            self._due_ms = self.period_ms


class UART:
    def __init__(self, id, baudrate=9600, **kw) -> None:
        self.id = id
        self.baudrate = baudrate
        self.kw = kw
        self.rx = bytearray()
        self.tx = bytearray()
        uarts.append(self)

    def any(self) -> int:
        return len(self.rx)

    def readinto(self, buf, nbytes=None):
        n = min(len(buf), len(self.rx), nbytes if nbytes is not None else len(buf))
        if n == 0:
            return None
        buf[:n] = self.rx[:n]
        del self.rx[:n]
        return n

    def write(self, data) -> int:
        self.tx.extend(data)
        return len(data)
