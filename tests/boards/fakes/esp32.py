"""A fake of MicroPython's `esp32` module (RMT and PCNT) that behaves like v1.28.0 on an ESP32.

It follows `ports/esp32/esp32_rmt.c` and `ports/esp32/esp32_pcnt.c` of MicroPython v1.28.0
(ESP-IDF 5 `rmt_tx` driver with the copy encoder; the legacy PCNT driver), including the parts
a HAL can trip over:

RMT
- `write_pulses()` while a train is still going out blocks the caller until it has ended
  (`rmt_tx_wait_all_done(channel, -1)`); `blocked_us` adds up how long callers were held.
- `wait_done(timeout=0)` answers from MicroPython's own in-flight counter (`tx_ongoing`), which
  only the transfer-done interrupt decrements.
- `active(False)` calls `rmt_disable()`: on the original ESP32 it spins with interrupts off
  until the hardware has sent the rest of the train (all of it goes out), and over ~300 ms of
  that the interrupt watchdog resets the chip (`InterruptWatchdogReset`). The interrupted
  transfer never reports done, so `tx_ongoing` stays above zero: after one more train,
  `wait_done(timeout=0)` is False for good. `active(True)` raises ValueError.
- The channel's memory holds `num_symbols` symbols (two pulses each; even, at least 64). A
  train with more symbols than fit (one is kept for the end marker) needs refills from the TX
  interrupt; that interrupt is not in IRAM in the ESP32 build, so while the flash is being
  written (`flash_write()`) the refill is late and the hardware replays the stale half of the
  memory: extra pulses on the pin. `refills` counts trains that needed any refill.

PCNT
- The wrap interrupt is a soft IRQ: the handler is scheduled (`run_scheduled()` runs it, as the
  VM does between bytecodes), and `value()` first runs the handler itself while the unit's flags
  are set, so a caller's wrap count matches the value it returns.
- `irq()` returns the unit's IRQ object; `irq().flags()` returns and clears the flags;
  `init()` checks its ranges as the C code does.

Time moves only when a test calls `advance_us(us)`: every channel plays its queue onto its pin,
and a jumper (`jumper(step_pin, sense_pin)`) carries the edges to the sense pin the PCNT watches.
"""

from typing import Callable

from tests.boards.fakes import machine as fake_machine

MEM_WORDS_PER_CHANNEL = 64  # SOC_RMT_MEM_WORDS_PER_CHANNEL on the original ESP32
IRQ_WDT_LIMIT_US = 300_000  # the interrupt watchdog's default timeout (CONFIG_ESP_INT_WDT_TIMEOUT_MS)

rmts: list = []
pcnts: dict = {}
_jumpers: dict = {}
_scheduled: list = []
_flash = {"busy": False}


class InterruptWatchdogReset(Exception):
    """The chip would reset here: interrupts were off longer than the interrupt watchdog allows."""


def reset() -> None:
    rmts.clear()
    pcnts.clear()
    _jumpers.clear()
    _scheduled.clear()
    _flash["busy"] = False


def jumper(step_pin_id: int, sense_pin_id: int) -> None:
    """Wire a generator's output pin to a counter's input pin."""
    _jumpers[step_pin_id] = sense_pin_id


def advance_us(us: int) -> None:
    """Time passes: every RMT channel plays up to `us` of its queue."""
    for rmt in rmts:
        rmt._play(us)


def run_scheduled() -> None:
    """Run the soft-IRQ handlers the VM would run at its next bytecode boundary."""
    while _scheduled:
        handler, arg = _scheduled.pop(0)
        handler(arg)


class flash_write:
    """`with esp32.flash_write():` the flash is busy (littlefs writing the journal)."""

    def __enter__(self):
        _flash["busy"] = True
        return self

    def __exit__(self, *exc) -> None:
        _flash["busy"] = False


def _rising_edges(levels) -> int:
    return sum(1 for i, level in enumerate(levels) if level and (i == 0 or not levels[i - 1]))


class RMT:
    PULSE_MAX = 32767

    def __init__(self, id: int = -1, *, pin, resolution_hz=None, clock_div=None, idle_level: bool = False,
                 tx_carrier=None, num_symbols: int = MEM_WORDS_PER_CHANNEL) -> None:
        if resolution_hz is not None and clock_div is not None:
            raise ValueError("resolution_hz and clock_div are mutually exclusive")
        if clock_div is not None and not 1 <= clock_div <= 255:
            raise ValueError("clock_div must be between 1 and 255")
        if num_symbols < MEM_WORDS_PER_CHANNEL or num_symbols % 2:
            raise ValueError("num_symbols must be even and at least %d" % MEM_WORDS_PER_CHANNEL)
        self.pin = pin
        self.resolution_hz = resolution_hz if resolution_hz is not None else (
            80_000_000 // clock_div if clock_div is not None else 10_000_000)
        self.idle_level = idle_level
        self.num_symbols = num_symbols
        self.enabled = False
        self.tx_ongoing = 0  # MicroPython's count of transfers not yet reported done
        self.sent: list = []  # (durations, levels) per write_pulses call
        self._queue: list = []  # [durations, levels, index, us_into_item, refill_stale]
        self.blocked_us = 0
        self.refills = 0
        self.extra_pulses = 0
        rmts.append(self)

    # ---- the Python API ------------------------------------------------------------------
    def write_pulses(self, duration, data: "bool | list | tuple" = True) -> None:
        self._check_live()
        if self.enabled:
            while self._queue:  # rmt_tx_wait_all_done(channel, -1): the caller is held
                self.blocked_us += self._step_us()
        else:
            self.enabled = True
        durations, levels = self._expand(duration, data)
        symbols = (len(durations) + 1) // 2
        stale = symbols > self.num_symbols - 1
        if stale:
            self.refills += 1
        self.sent.append((durations, levels))
        self._queue.append([durations, levels, 0, 0, stale])
        self.tx_ongoing += 1

    def wait_done(self, *, timeout: int = 0) -> bool:
        self._check_live()
        if not self.enabled:
            return True
        if timeout == 0 and self.tx_ongoing > 0:
            return False
        self._play(timeout * 1000)
        return not self._queue

    def active(self, value=None):
        if value is None:
            return self.enabled and self.tx_ongoing > 0
        if value:
            raise ValueError("activate by calling write_pulses()")
        self._deactivate()
        return False

    def deinit(self) -> None:
        if self.pin is not None:
            self._deactivate()
            self.pin = None
            self.tx_ongoing = 0

    # ---- the hardware ----------------------------------------------------------------------
    def _deactivate(self) -> None:
        """rmt_disable(): interrupts off until the hardware has sent the rest of the train."""
        if not self.enabled:
            return
        spun_us = 0
        while self._queue:
            train = self._queue[0]
            spun_us += self._step_us(report_done=False)
            if self._queue and self._queue[0] is not train:
                break
        self._queue.clear()
        self.enabled = False
        if spun_us > IRQ_WDT_LIMIT_US:
            raise InterruptWatchdogReset("rmt_disable spun %d us with interrupts off" % spun_us)

    def _check_live(self) -> None:
        if self.pin is None:
            raise OSError("already deinitialized")

    def _expand(self, duration, data):
        if isinstance(data, (list, tuple)):
            levels = data
            durations = [duration] * len(levels) if isinstance(duration, int) else duration
            if len(durations) != len(levels):
                raise ValueError("duration and data must have same length")
        else:
            durations = list(duration)
            first = 1 if data else 0
            levels = [first ^ (i & 1) for i in range(len(durations))]
        if not durations:
            raise ValueError("No pulses")
        for d in durations:
            if not 1 <= d <= self.PULSE_MAX:
                raise ValueError("RMT duration %d out of 1..%d" % (d, self.PULSE_MAX))
        return durations, levels

    def _play(self, us: int) -> None:
        while us > 0 and self._queue:
            us -= self._step_us()

    def _step_us(self, report_done: bool = True) -> int:
        """Send one item of the head train (ticks are us at the board's 1 MHz resolution)."""
        train = self._queue[0]
        durations, levels, index = train[0], train[1], train[2]
        took = durations[index]
        if levels[index] and (index == 0 or not levels[index - 1]):
            self._edge()
        train[2] += 1
        if train[2] == len(durations):
            if train[4] and _flash["busy"]:
                # the refill came late: the hardware replays the stale half of its memory
                half = durations[: self.num_symbols]  # num_symbols/2 symbols = num_symbols pulses
                extra = _rising_edges(levels[: len(half)])
                self.extra_pulses += extra
                for _ in range(extra):
                    self._edge()
            self._queue.pop(0)
            if report_done:
                self.tx_ongoing -= 1  # the transfer-done interrupt
        return took

    def _edge(self) -> None:
        pin_id = self.pin.id
        for unit in pcnts.values():
            unit.see_edges(_jumpers.get(pin_id, pin_id), 1)


class IRQ:
    """The unit's mp_irq object: flags() returns and clears, trigger() tells the events."""

    def __init__(self, unit) -> None:
        self._unit = unit

    def flags(self) -> int:
        flags = self._unit._flags
        self._unit._flags = 0
        return flags

    def trigger(self) -> int:
        return self._unit.trigger


class PCNT:
    id: int
    config: dict
    _value: int
    started: bool
    handler: "Callable | None"
    trigger: int
    _flags: int
    _irq: "IRQ | None"
    IGNORE, INCREMENT, DECREMENT = 0, 1, 2
    NORMAL, REVERSE, HOLD = 0, 1, 2
    IRQ_THRESHOLD1, IRQ_THRESHOLD0, IRQ_MIN, IRQ_MAX, IRQ_ZERO = 4, 8, 16, 32, 64

    def __new__(cls, id: int, **kw):
        if not 0 <= id < 8:
            raise ValueError("invalid id")
        unit = pcnts.get(id)
        if unit is None:
            unit = object.__new__(cls)
            unit.id = id
            unit.config = {}
            unit._value = 0
            unit.started = False
            unit.handler = None
            unit.trigger = 0
            unit._flags = 0
            unit._irq = None
            pcnts[id] = unit
        return unit

    def __init__(self, id: int, **kw) -> None:
        self.init(**kw)

    def init(self, **kw) -> None:
        if kw.get("channel", 0) not in (0, 1):
            raise ValueError("channel")
        for key in ("rising", "falling"):
            if key in kw and not 0 <= kw[key] <= 2:
                raise ValueError(key)
        for key in ("mode_low", "mode_high"):
            if key in kw and not 0 <= kw[key] <= 2:
                raise ValueError(key)
        if "filter" in kw and not 0 <= kw["filter"] <= 1023:
            raise ValueError("filter")
        if "min" in kw and not -32768 <= kw["min"] <= 0:
            raise ValueError("minimum")
        if "max" in kw and not 0 <= kw["max"] <= 32767:
            raise ValueError("maximum")
        if kw.get("value", 0) != 0:
            raise ValueError("value")
        self.config.update(kw)
        if any(k in kw for k in ("min", "max", "value", "threshold0", "threshold1")):
            self._value = 0

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def irq(self, handler=None, trigger=IRQ_ZERO):
        if self._irq is None:
            self._irq = IRQ(self)
        if handler is not None:
            if not self.IRQ_THRESHOLD1 <= trigger < self.IRQ_ZERO << 1:
                raise ValueError("trigger")
            self.handler = handler
            self.trigger = trigger
        return self._irq

    def value(self, reset=None) -> int:
        if reset is not None and reset != 0:
            raise ValueError("value")
        for _ in range(100):
            v = self._value
            if self._flags and self.handler is not None:
                self.handler(self)  # must call irq().flags(), or this would loop for ever
                continue
            if reset == 0:
                self._value = 0
            return v
        raise AssertionError("the PCNT handler never cleared the flags: value() would hang")

    def see_edges(self, pin_id: int, n: int) -> None:
        """n rising edges arrive on pin_id (counted only if that is this unit's pin)."""
        cfg = self.config
        if not self.started or getattr(cfg.get("pin"), "id", None) != pin_id:
            return
        step = {self.INCREMENT: 1, self.DECREMENT: -1}.get(cfg.get("rising", self.IGNORE), 0)
        mode_pin = cfg.get("mode_pin")
        if mode_pin is not None:
            mode = cfg.get("mode_high" if fake_machine.Pin(mode_pin.id).value() else "mode_low", self.NORMAL)
            if mode == self.REVERSE:
                step = -step
            elif mode == self.HOLD:
                step = 0
        lo, hi = cfg.get("min", -32768), cfg.get("max", 32767)
        for _ in range(n):
            self._value += step
            if self._value >= hi or self._value <= lo:
                event = self.IRQ_MAX if self._value >= hi else self.IRQ_MIN
                self._value = 0  # the ESP32 PCNT resets to zero at either limit
                if self.trigger & event:
                    self._flags |= event
                    if self.handler is not None:
                        _scheduled.append((self.handler, self))  # a soft IRQ: runs later
