"""The Raspberry Pi Pico (RP2040) behind the HAL seam.

Steps come from PIO (see firmware.hal.rp2_pio): a generator state machine in PIO0 emits exact
pulse trains at 1 us resolution, a counter in PIO1 counts the STEP line by DIR for the dose
interlock, and a gate in PIO1 lets through only the steps that were asked for. The HX711 is
polled (read only when it has a conversion), the watchdog is machine.WDT (the RP2040's limit
is about 8.3 s), files live on littlefs and the operator's link is USB CDC or a UART.

    hal = build(Board.load("RPI_PICO"))     # what firmware.main.boot() does on the Pico
    hal.stepper.enable(True); hal.stepper.move(3200, 200)   # one turn at 5000 steps/s
    hal.counter.count()                                      # 3200 once they are out

Every method the control loop calls works on preallocated objects and small integers only.
"""

import sys

import machine
import rp2

from firmware.compat import const
from firmware.hal import Hal, rp2_pio
from firmware.hal.file_storage import FileStorage
from firmware.link_budget import LINK_BUFFER_BYTES
from firmware.hal.machine_io import (MachineWatchdog, StreamLink, TicksClock, UartLink, build_force, build_switches, pin_number,
                                     reset_cause_name, setting, RP2040_RESET_NAMES)

GENERATOR_SM = const(0)  # PIO0 SM0: the generator has PIO0's instruction memory to itself
COUNTER_SM = const(4)  # PIO1 SM0
GATE_SM = const(5)  # PIO1 SM1
STORAGE_ROOT = "/data"


def _encode(text: str) -> int:
    return rp2.asm_pio_encode(text, 0)


# Instructions the CPU runs inside a state machine (StateMachine.exec), encoded once at import.
PULL_NOBLOCK = _encode("pull(noblock)")
PUSH_NOBLOCK = _encode("push(noblock)")
ISR_FROM_NOT_X = _encode("mov(isr, invert(x))")
ISR_FROM_NOT_Y = _encode("mov(isr, invert(y))")
X_ALL_ONES = _encode("mov(x, invert(null))")
Y_ALL_ONES = _encode("mov(y, invert(null))")


class PioStepCounter:
    """The counter state machine: rising STEP edges since boot, by the DIR level at each edge."""

    def __init__(self, sm, dir_forward_level: int) -> None:
        self._sm = sm
        self._forward_high = dir_forward_level == 1
        sm.exec(X_ALL_ONES)  # counting down from all-ones, so the inverted register is the count
        sm.exec(Y_ALL_ONES)
        sm.active(1)

    def _read(self, isr_from: int) -> int:
        sm = self._sm
        sm.exec(isr_from)
        sm.exec(PUSH_NOBLOCK)
        return sm.get()

    def edges_dir_low(self) -> int:
        return self._read(ISR_FROM_NOT_X)

    def edges_dir_high(self) -> int:
        return self._read(ISR_FROM_NOT_Y)

    def total_edges(self) -> int:
        return self.edges_dir_low() + self.edges_dir_high()

    def count(self) -> int:
        """Net microsteps on the STEP line, forward positive."""
        low = self.edges_dir_low()
        high = self.edges_dir_high()
        return high - low if self._forward_high else low - high


class PioStepper:
    """The generator and the gate state machines plus the driver's EN pin."""

    def __init__(self, generator_sm, gate_sm, enable_pin, counter: PioStepCounter, high_cycles: int,
                 dir_forward_level: int, enable_active_level: int) -> None:
        self._gen = generator_sm
        self._gate = gate_sm
        self._en = enable_pin
        self._counter = counter
        self._high = high_cycles
        self._min_period_us = rp2_pio.min_period_us(high_cycles)
        self._forward = dir_forward_level
        self._en_on = enable_active_level
        self._issued_edges = counter.total_edges()  # edges the line will have seen once all is out
        self._sign = 1  # direction of what was last queued
        self._backlog = 0  # signed steps waiting for room in the FIFOs
        self._backlog_period_us = 0
        self.enable(False)
        gate_sm.active(1)
        generator_sm.active(1)

    def enable(self, on: bool) -> None:
        self._en.value(self._en_on if on else 1 - self._en_on)

    def move(self, steps: int, period_us: int) -> int:
        """All of it is taken: the PIO FIFOs queue commands, and a backlog waits for room."""
        if steps == 0:
            return 0
        if self._backlog != 0 and (steps > 0) != (self._backlog > 0):
            self._backlog = 0  # a reversal replaces what had not gone out yet
        self._backlog += steps
        self._backlog_period_us = period_us if period_us > self._min_period_us else self._min_period_us
        self._flush()
        return steps

    def _flush(self) -> None:
        steps = self._backlog
        if steps == 0 or self._gen.tx_fifo() > 2 or self._gate.tx_fifo() > 3:
            return
        n = steps if steps > 0 else -steps
        level = self._forward if steps > 0 else 1 - self._forward
        self._gate.put(n - 1)  # the budget first, so the gate is open when the pulses come
        self._gen.put(rp2_pio.command_word(n, level))
        self._gen.put(rp2_pio.timing_word(self._backlog_period_us, self._high))
        self._issued_edges += n
        self._sign = 1 if steps > 0 else -1
        self._backlog = 0

    def halt(self) -> None:
        """Stop the pulses now: both FIFOs emptied, both programs back at their start."""
        _reset(self._gen)  # STEP low, waiting for a command
        _reset(self._gate)  # closed, waiting for a budget
        self._backlog = 0
        self._issued_edges = self._counter.total_edges()

    def pending(self) -> int:
        """Steps queued and not yet seen on the line (signed by direction); for reporting."""
        self._flush()
        left = self._issued_edges - self._counter.total_edges()
        return self._sign * left + self._backlog


def _reset(sm) -> None:
    """Stop a state machine, empty its TX FIFO through its own OSR, and restart its program."""
    sm.active(0)
    while sm.tx_fifo():
        sm.exec(PULL_NOBLOCK)
    sm.restart()
    sm.active(1)


def _stepper_and_counter(board, pins: dict):
    drive = board.doc["drive"]
    forward = setting(board.doc, "drive", "dir_forward_level", (0, 1), board.name)
    en_active = setting(board.doc, "drive", "enable_active_level", (0, 1), board.name)
    if machine.freq() % rp2_pio.GENERATOR_FREQ_HZ:
        raise ValueError("system clock %d Hz is not a whole number of MHz: step timing would not be exact; keep the default 125 MHz" % machine.freq())
    high = rp2_pio.high_cycles_for(drive["step_pulse_min_ns"])
    step = machine.Pin(pin_number(pins, "step", board.name))
    direction = machine.Pin(pin_number(pins, "dir", board.name))
    gate = machine.Pin(pin_number(pins, "step_gate", board.name))
    sense = machine.Pin(pins["step_sense"] if "step_sense" in pins else pin_number(pins, "step", board.name))
    enable = machine.Pin(pin_number(pins, "enable", board.name), machine.Pin.OUT, value=1 - en_active)
    gen_sm = rp2.StateMachine(GENERATOR_SM, rp2_pio.step_generator(high), freq=rp2_pio.GENERATOR_FREQ_HZ,
                              set_base=step, out_base=direction, in_base=gate)
    gate_sm = rp2.StateMachine(GATE_SM, rp2_pio.step_gate, set_base=gate, in_base=sense)
    counter_sm = rp2.StateMachine(COUNTER_SM, rp2_pio.step_counter, in_base=sense, jmp_pin=direction)
    counter = PioStepCounter(counter_sm, forward)
    return PioStepper(gen_sm, gate_sm, enable, counter, high, forward, en_active), counter


def build_link(board):
    link = board.doc.get("link", {})
    kind = link.get("kind")
    if kind == "usb_cdc":
        import select

        return StreamLink(sys.stdin.buffer, sys.stdout.buffer, select.poll())
    if kind == "uart":
        uart = machine.UART(link["uart"], baudrate=link["baud"], tx=machine.Pin(link["tx"]), rx=machine.Pin(link["rx"]),
                            rxbuf=LINK_BUFFER_BYTES, txbuf=LINK_BUFFER_BYTES)  # a tick each way (link_budget)
        return UartLink(uart)
    raise ValueError("boards/%s/board.json: link.kind is %r, expected 'usb_cdc' or 'uart'" % (board.name, kind))


def reset_cause() -> str:
    """Why the board last reset: power_on, watchdog, soft, ..."""
    return reset_cause_name(machine, RP2040_RESET_NAMES)


def build(board) -> Hal:
    """HAL factory named by boards/RPI_PICO/board.json."""
    pins = board.pins
    stepper, counter = _stepper_and_counter(board, pins)
    hal = Hal(TicksClock(), stepper, counter, build_force(machine, board, pins), build_switches(machine, board, pins),
              FileStorage(STORAGE_ROOT), MachineWatchdog(board.watchdog_ms, machine.WDT, lambda: machine.Timer(-1)), build_link(board))
    # Boot asks the HAL why the board reset (firmware.main.boot: hal.reset_cause()); Hal has no
    # slot for it, so it is attached here.
    setattr(hal, "reset_cause", reset_cause)
    return hal
