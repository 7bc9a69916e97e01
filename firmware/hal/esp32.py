"""The ESP32 DevKitC behind the HAL seam.

Steps come from the RMT peripheral: each move is one pulse train of (level, duration) items at
1 us resolution (80 MHz / 80) that the hardware plays with no CPU involvement. Three rules keep
MicroPython v1.28.0's RMT (ports/esp32/esp32_rmt.c) safe to use from a control loop:

- A train is never interrupted. `RMT.active(False)` spins with interrupts off until the train
  has gone out, resets the chip through the interrupt watchdog past ~300 ms, and leaves
  MicroPython's in-flight count stuck so that `wait_done(timeout=0)` is False for good. So
  `halt()` never calls it: the driver's EN (dropped first by the controller) is the safety cut,
  and the train in flight (at most one control tick) plays out to a disabled driver; the
  independent counter sees those pulses, so the count errs on the side of more delivered.
- A train lasts at most one control tick and is never extended: `move()` takes what fits in
  one tick and in the channel's memory and returns how many steps it took; the rest stays in
  the motion plan, which asks again next tick. While a train plays, `move()` takes nothing
  (`write_pulses` would block the loop until the train ended).
- A train fits the channel's memory (`num_symbols=RMT_SYMBOLS`, one symbol kept for the end
  marker), so it never needs a refill: the TX interrupt is not in IRAM in the ESP32 build, so a
  refill due while littlefs writes the journal comes late and the hardware replays stale items
  as extra STEP pulses.

An RMT item lasts at most 32,767 ticks, so a low phase longer than 32.767 ms is several low
items back to back. The last step of a train keeps only the minimum low time: the spacing to
the next step is the next tick's business, so a slow infusion's one-step train is 2 us high and
a few us low, not a whole period.

The STEP line is counted by a PCNT unit, with DIR on its control input reversing the count, on
separate sense pins wired to the driver's STEP and DIR (board.json pins.step_sense and
pins.dir_sense). PCNT counts in hardware to +/-32000 and a (soft) interrupt adds each wrap, the
way MicroPython's own machine.Counter does on this chip.

    hal = build(Board.load("ESP32_DEVKITC"))
    hal.stepper.enable(True); taken = hal.stepper.move(640, 125)   # up to 8000 steps/s

Needs MicroPython 1.27 or later (1.28.0 checked): esp32.PCNT arrived in 1.26, RMT.active (the
marker of the rewritten RMT with num_symbols) in 1.27; `build()` says so on an older firmware.
"""

import machine

import esp32
from firmware.compat import const
from firmware.hal import Hal
from firmware.hal.file_storage import FileStorage
from firmware.link_budget import LINK_BUFFER_BYTES
from firmware.hal.machine_io import (MachineWatchdog, StreamLink, TicksClock, UartLink, build_force, build_switches, pin_number,
                                     reset_cause_name, setting, ESP32_RESET_NAMES)

RMT_CHANNEL = const(0)
RMT_CLOCK_DIV = const(80)  # 80 MHz APB / 80 = 1 MHz: one tick per microsecond
RMT_PULSE_MAX = const(32767)
PCNT_UNIT = const(0)
STORAGE_ROOT = "/data"
PCNT_RANGE = const(32000)
PCNT_FILTER_TICKS = const(40)  # 0.5 us at 80 MHz: glitches shorter than any real STEP pulse
RMT_SYMBOLS = const(256)  # 4 of the ESP32's 64-word channel blocks, one channel's worth is too few
TRAIN_SYMBOLS_MAX = const(255)  # RMT_SYMBOLS less the end marker: a train never needs a refill
MIN_VERSION = (1, 27, 0)


def high_us_for(step_pulse_min_ns: int) -> int:
    """The driver's minimum STEP high time rounded up to whole microseconds, plus one of margin."""
    return (step_pulse_min_ns + 999) // 1000 + 1


def _low_items(low_us: int, durations: list, levels: list) -> None:
    while low_us > 0:
        item = low_us if low_us <= RMT_PULSE_MAX else RMT_PULSE_MAX
        durations.append(item)
        levels.append(0)
        low_us -= item


def step_train(steps: int, period_us: int, high_us: int):
    """(durations, levels) for `steps` pulses `period_us` apart, each item within RMT's limit.

    The last pulse is followed by the minimum low time only (as long as the high time)."""
    durations = []
    levels = []
    for i in range(steps):
        durations.append(high_us)
        levels.append(1)
        _low_items(period_us - high_us if i < steps - 1 else high_us, durations, levels)
    return durations, levels


def steps_that_fit(period_us: int, high_us: int, train_us: int) -> int:
    """How many steps one train may carry: within `train_us` (one control tick) and within the
    channel's memory (two pulses per symbol)."""
    by_time = 1 + (train_us - 2 * high_us) // period_us
    pulses_per_step = 1 + (period_us - high_us + RMT_PULSE_MAX - 1) // RMT_PULSE_MAX
    by_memory = (2 * TRAIN_SYMBOLS_MAX) // pulses_per_step
    n = by_time if by_time < by_memory else by_memory
    return n if n > 1 else 1


def check_firmware(version: tuple, esp32_module) -> None:
    """Stop the boot with a clear message on a MicroPython too old for this HAL."""
    if tuple(version[:3]) < MIN_VERSION or not hasattr(esp32_module, "PCNT") or not hasattr(esp32_module.RMT, "active"):
        raise RuntimeError("MicroPython %s is too old for the ESP32 HAL: esp32.PCNT needs 1.26 and the RMT with "
                           "num_symbols and active() 1.27; flash v1.27 or later (v1.28.0 checked)"
                           % ".".join(str(v) for v in version[:3]))


class PcntStepCounter:
    """Net rising edges on the STEP sense pin, reversed by the DIR sense pin's level."""

    def __init__(self, pcnt, step_pin, dir_pin, dir_forward_level: int) -> None:
        P = esp32.PCNT
        self._pcnt = pcnt
        self._wraps = 0
        reverse_low = dir_forward_level == 1
        pcnt.init(channel=0, pin=step_pin, rising=P.INCREMENT, falling=P.IGNORE, mode_pin=dir_pin,
                  mode_low=P.REVERSE if reverse_low else P.NORMAL, mode_high=P.NORMAL if reverse_low else P.REVERSE,
                  min=-PCNT_RANGE, max=PCNT_RANGE, filter=PCNT_FILTER_TICKS)
        pcnt.irq(self._wrapped, P.IRQ_MIN | P.IRQ_MAX)
        pcnt.start()

    def _wrapped(self, pcnt) -> None:
        flags = pcnt.irq().flags()
        if flags & esp32.PCNT.IRQ_MAX:
            self._wraps += 1
        elif flags & esp32.PCNT.IRQ_MIN:
            self._wraps -= 1

    def count(self) -> int:
        while True:
            wraps = self._wraps
            value = self._pcnt.value()  # runs any pending wrap interrupt for this unit first
            if wraps == self._wraps:
                return wraps * PCNT_RANGE + value


class RmtStepper:
    """The RMT channel on STEP, the DIR and EN pins driven by the CPU."""

    def __init__(self, rmt, dir_pin, enable_pin, counter: PcntStepCounter, high_us: int,
                 dir_forward_level: int, enable_active_level: int, train_us: int) -> None:
        self._rmt = rmt
        self._dir = dir_pin
        self._en = enable_pin
        self._counter = counter
        self._high_us = high_us
        self._min_period_us = 2 * high_us
        self._train_us = train_us
        self._forward = dir_forward_level
        self._en_on = enable_active_level
        self._issued = counter.count()  # net position once every train has gone out
        self._last_key = (0, 0)
        self._last_train = ([], [])
        self.enable(False)

    def enable(self, on: bool) -> None:
        self._en.value(self._en_on if on else 1 - self._en_on)

    def move(self, steps: int, period_us: int) -> int:
        """One train of at most one tick's steps; returns the signed steps taken (0 while busy)."""
        if steps == 0 or not self._rmt.wait_done(timeout=0):
            return 0  # the channel still plays the last train: never block the loop
        period_us = period_us if period_us > self._min_period_us else self._min_period_us
        n = steps if steps > 0 else -steps
        fit = steps_that_fit(period_us, self._high_us, self._train_us)
        if n > fit:
            n = fit
        self._dir.value(self._forward if steps > 0 else 1 - self._forward)
        key = (n, period_us)
        if key != self._last_key:
            self._last_train = step_train(n, period_us, self._high_us)
            self._last_key = key
        durations, levels = self._last_train
        self._rmt.write_pulses(durations, levels)
        taken = n if steps > 0 else -n
        self._issued += taken
        return taken

    def halt(self) -> None:
        """Nothing is queued beyond the train in flight, which is never interrupted (see the
        module docstring): the controller has already dropped EN."""

    def pending(self) -> int:
        return self._issued - self._counter.count()


def build_link(board):
    """UART0 is the DevKitC's USB bridge and MicroPython's console: use it as a stream."""
    link = board.doc.get("link", {})
    if link.get("kind") != "uart":
        raise ValueError("boards/%s/board.json: link.kind is %r, expected 'uart'" % (board.name, link.get("kind")))
    if link.get("uart", 0) == 0:
        import select
        import sys

        return StreamLink(sys.stdin.buffer, sys.stdout.buffer, select.poll())
    uart = machine.UART(link["uart"], baudrate=link["baud"], tx=link["tx"], rx=link["rx"],
                        rxbuf=LINK_BUFFER_BYTES, txbuf=LINK_BUFFER_BYTES)  # a tick each way (link_budget)
    return UartLink(uart)


def reset_cause() -> str:
    return reset_cause_name(machine, ESP32_RESET_NAMES)


def build(board) -> Hal:
    """HAL factory named by boards/ESP32_DEVKITC/board.json."""
    import sys

    check_firmware(sys.implementation.version, esp32)
    pins = board.pins
    forward = setting(board.doc, "drive", "dir_forward_level", (0, 1), board.name)
    en_active = setting(board.doc, "drive", "enable_active_level", (0, 1), board.name)
    step = machine.Pin(pin_number(pins, "step", board.name), machine.Pin.OUT, value=0)
    direction = machine.Pin(pin_number(pins, "dir", board.name), machine.Pin.OUT, value=forward)
    enable = machine.Pin(pin_number(pins, "enable", board.name), machine.Pin.OUT, value=1 - en_active)
    step_sense = machine.Pin(pin_number(pins, "step_sense", board.name), machine.Pin.IN)
    dir_sense = machine.Pin(pin_number(pins, "dir_sense", board.name), machine.Pin.IN)
    counter = PcntStepCounter(esp32.PCNT(PCNT_UNIT), step_sense, dir_sense, forward)
    rmt = esp32.RMT(RMT_CHANNEL, pin=step, clock_div=RMT_CLOCK_DIV, idle_level=False, num_symbols=RMT_SYMBOLS)
    high = high_us_for(board.doc["drive"]["step_pulse_min_ns"])
    stepper = RmtStepper(rmt, direction, enable, counter, high, forward, en_active, board.tick_ms * 1000)
    hal = Hal(TicksClock(), stepper, counter, build_force(machine, board, pins), build_switches(machine, board, pins),
              FileStorage(STORAGE_ROOT), MachineWatchdog(board.watchdog_ms, machine.WDT, lambda: machine.Timer(0)), build_link(board))
    # Boot asks the HAL why the board reset (firmware.main.boot: hal.reset_cause()); Hal has no
    # slot for it, so it is attached here.
    setattr(hal, "reset_cause", reset_cause)
    return hal
