"""The ESP32 DevKitC behind the HAL seam.

Steps come from the RMT peripheral: each move is written as one pulse train of (level,
duration) items at 1 us resolution (80 MHz / 80), and the hardware plays it out with no CPU
involvement. An RMT item lasts at most 32,767 ticks, so a low phase longer than 32.767 ms
(any rate under ~30 steps/s) is written as several low items back to back: a 2 s period is
one 2 us high item and 62 low items of up to 32,767 us. The controller queues at most one
tick's steps at a time, so in practice a slow infusion sends one step per tick or fewer.

The STEP line is counted by a PCNT unit, with DIR on its control input reversing the count,
on separate sense pins wired to the driver's STEP and DIR (board.json pins.step_sense and
pins.dir_sense). PCNT counts in hardware to +/-32000 and an interrupt adds each wrap, the way
MicroPython's own machine.Counter does on this chip.

    hal = build(Board.load("ESP32_DEVKITC"))
    hal.stepper.enable(True); hal.stepper.move(640, 125)   # 8000 steps/s for 80 ms

Unlike the Pico's PIO path, move() builds its pulse list on the heap (esp32.RMT takes a list
or tuple); the last train is reused when the next move has the same count and period.
The ESP32 has no hardware gate between counter and generator: RMT plays exactly the items it
was given and has no program that could run away, and the controller's interlock reads PCNT.
"""

import machine

import esp32
from firmware.compat import const
from firmware.hal import Hal
from firmware.hal.file_storage import FileStorage
from firmware.hal.machine_io import (MachineWatchdog, StreamLink, TicksClock, UartLink, build_force, build_switches, pin_number,
                                     reset_cause_name, setting)

RMT_CHANNEL = const(0)
RMT_CLOCK_DIV = const(80)  # 80 MHz APB / 80 = 1 MHz: one tick per microsecond
RMT_PULSE_MAX = const(32767)
PCNT_UNIT = const(0)
STORAGE_ROOT = "/data"
PCNT_RANGE = const(32000)
PCNT_FILTER_TICKS = const(40)  # 0.5 us at 80 MHz: glitches shorter than any real STEP pulse
MAX_STEPS_PER_TRAIN = const(1000)


def high_us_for(step_pulse_min_ns: int) -> int:
    """The driver's minimum STEP high time rounded up to whole microseconds, plus one of margin."""
    return (step_pulse_min_ns + 999) // 1000 + 1


def step_train(steps: int, period_us: int, high_us: int):
    """(durations, levels) for `steps` pulses `period_us` apart, each item within RMT's limit."""
    low_us = period_us - high_us
    durations = []
    levels = []
    for _ in range(steps):
        durations.append(high_us)
        levels.append(1)
        left = low_us
        while left > 0:
            item = left if left <= RMT_PULSE_MAX else RMT_PULSE_MAX
            durations.append(item)
            levels.append(0)
            left -= item
    return durations, levels


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
                 dir_forward_level: int, enable_active_level: int) -> None:
        self._rmt = rmt
        self._dir = dir_pin
        self._en = enable_pin
        self._counter = counter
        self._high_us = high_us
        self._min_period_us = 2 * high_us
        self._forward = dir_forward_level
        self._en_on = enable_active_level
        self._backlog = 0
        self._period_us = 0
        self._issued = counter.count()  # net position once every train has gone out
        self._last_key = (0, 0)
        self._last_train = ([], [])
        self.enable(False)

    def enable(self, on: bool) -> None:
        self._en.value(self._en_on if on else 1 - self._en_on)

    def move(self, steps: int, period_us: int) -> None:
        if steps == 0:
            return
        if self._backlog != 0 and (steps > 0) != (self._backlog > 0):
            self._backlog = 0
        self._backlog += steps
        self._period_us = period_us if period_us > self._min_period_us else self._min_period_us
        self._flush()

    def _flush(self) -> None:
        steps = self._backlog
        if steps == 0 or not self._rmt.wait_done(timeout=0):
            return  # the channel is still playing the last train: never block the loop
        n = steps if steps > 0 else -steps
        if n > MAX_STEPS_PER_TRAIN:
            n = MAX_STEPS_PER_TRAIN
        self._dir.value(self._forward if steps > 0 else 1 - self._forward)
        key = (n, self._period_us)
        if key != self._last_key:
            self._last_train = step_train(n, self._period_us, self._high_us)
            self._last_key = key
        durations, levels = self._last_train
        self._rmt.write_pulses(durations, levels)
        signed = n if steps > 0 else -n
        self._issued += signed
        self._backlog -= signed

    def halt(self) -> None:
        self._rmt.active(False)  # stops the train now
        self._backlog = 0
        self._issued = self._counter.count()

    def pending(self) -> int:
        self._flush()
        return self._issued - self._counter.count() + self._backlog


def build_link(board):
    """UART0 is the DevKitC's USB bridge and MicroPython's console: use it as a stream."""
    link = board.doc.get("link", {})
    if link.get("kind") != "uart":
        raise ValueError("boards/%s/board.json: link.kind is %r, expected 'uart'" % (board.name, link.get("kind")))
    if link.get("uart", 0) == 0:
        import select
        import sys

        return StreamLink(sys.stdin.buffer, sys.stdout.buffer, select.poll())
    uart = machine.UART(link["uart"], baudrate=link["baud"], tx=link["tx"], rx=link["rx"])
    return UartLink(uart)


def reset_cause() -> str:
    return reset_cause_name(machine)


def build(board) -> Hal:
    """HAL factory named by boards/ESP32_DEVKITC/board.json."""
    pins = board.pins
    forward = setting(board.doc, "drive", "dir_forward_level", (0, 1), board.name)
    en_active = setting(board.doc, "drive", "enable_active_level", (0, 1), board.name)
    step = machine.Pin(pin_number(pins, "step", board.name), machine.Pin.OUT, value=0)
    direction = machine.Pin(pin_number(pins, "dir", board.name), machine.Pin.OUT, value=forward)
    enable = machine.Pin(pin_number(pins, "enable", board.name), machine.Pin.OUT, value=1 - en_active)
    step_sense = machine.Pin(pin_number(pins, "step_sense", board.name), machine.Pin.IN)
    dir_sense = machine.Pin(pin_number(pins, "dir_sense", board.name), machine.Pin.IN)
    counter = PcntStepCounter(esp32.PCNT(PCNT_UNIT), step_sense, dir_sense, forward)
    rmt = esp32.RMT(RMT_CHANNEL, pin=step, clock_div=RMT_CLOCK_DIV, idle_level=False)
    high = high_us_for(board.doc["drive"]["step_pulse_min_ns"])
    stepper = RmtStepper(rmt, direction, enable, counter, high, forward, en_active)
    hal = Hal(TicksClock(), stepper, counter, build_force(machine, board, pins), build_switches(machine, board, pins),
              FileStorage(STORAGE_ROOT), MachineWatchdog(board.watchdog_ms, machine.WDT, lambda: machine.Timer(0)), build_link(board))
    # Boot asks the HAL why the board reset (firmware.main.boot: hal.reset_cause()); Hal has no
    # slot for it, so it is attached here.
    setattr(hal, "reset_cause", reset_cause)
    return hal
