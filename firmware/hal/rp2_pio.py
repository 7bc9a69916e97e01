"""The RP2040's step pulses, counted and fenced in PIO hardware.

Three state machines share the STEP line, and none trusts the others:

- the generator (PIO0) turns (command, timing) word pairs from its TX FIFO into STEP pulses:
  the command word carries DIR and the number of steps, the timing word the period in
  microseconds. It runs at 1 MHz, so one PIO cycle is one microsecond and a period of
  2,000,000 us (0.5 step/s) is as exact as one of 200 us (5000 steps/s). Before every pulse it
  waits for the gate pin to be low;
- the gate (PIO1) holds the step budget: it opens the gate pin when the CPU loads a budget of
  n steps, counts rising edges on the STEP line and closes the gate at the n-th. A generator
  that runs away (a bad count word, a corrupted program) stops at the budget, in hardware,
  between two control ticks as well as during one;
- the counter (PIO1) counts every rising edge on the STEP line, split by the DIR level sampled
  at the edge. It never blocks on anything but the line, and the dose interlock reads it.

The gate is a GPIO rather than a PIO IRQ flag so that it can sit in the other PIO block (its
own instruction memory) and be seen on a logic analyser. Example, 3 steps forward at 4 ms:

    gate.put(3 - 1); generator.put(command_word(3, 1)); generator.put(timing_word(4000, 2))
    STEP  __|~~|________|~~|________|~~|____     high 2 us, period 4000 us, then the gate closes

The programs are written in MicroPython's `@rp2.asm_pio` DSL; the host tests assemble this very
file with a host-side twin of that assembler and run it in the RP2040 PIO emulator.
"""

import rp2

from firmware.compat import const

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False
if TYPE_CHECKING:
    from rp2.asm_pio import *  # noqa: F403 - the DSL's names, for the type checker only

GENERATOR_FREQ_HZ = const(1000000)  # one PIO cycle per microsecond
# Cycles of every step spent outside the two delay loops and the high phase (counted below).
STEP_OVERHEAD_CYCLES = const(39)
MAX_HIGH_CYCLES = const(32)  # the high phase is one instruction's delay field (5 bits) + 1


def step_generator(high_cycles: int):
    """The generator program with a STEP high phase of `high_cycles` microseconds.

    Cycles per step: mov, out, fine loop (f + 1), out, coarse loop 32 (c + 1), wait, high
    phase (high_cycles), set, jmp = f + 32 c + high_cycles + 39, where the timing word is
    f + 32 c, so a period is the timing word plus `high_cycles + STEP_OVERHEAD_CYCLES`.
    """
    if not 1 <= high_cycles <= MAX_HIGH_CYCLES:
        raise ValueError("STEP high time %d us is outside 1..%d us; choose a driver with a shorter minimum pulse" % (high_cycles, MAX_HIGH_CYCLES))

    @rp2.asm_pio(set_init=rp2.PIO.OUT_LOW, out_init=rp2.PIO.OUT_LOW, out_shiftdir=rp2.PIO.SHIFT_RIGHT)
    def generator():
        set(pins, 0)  # STEP low; a restart lands here
        pull(block)  # command word: bit 0 DIR level, bits 1.. steps - 1
        out(pins, 1)  # DIR, held for the whole command (set-up time: the first low phase)
        out(x, 31)
        pull(block)  # timing word: period_us - high - overhead
        mov(isr, osr)  # kept for every step of this command
        label("step")
        mov(osr, isr)
        out(y, 5)  # fine part: 1 cycle per count
        label("fine")
        jmp(y_dec, "fine")
        out(y, 27)  # coarse part: 32 cycles per count
        label("coarse")
        jmp(y_dec, "coarse")[31]
        wait(0, pin, 0)  # the gate (in_base): closed while high
        set(pins, 1)[high_cycles - 1]
        set(pins, 0)
        jmp(x_dec, "step")

    return generator


@rp2.asm_pio(set_init=rp2.PIO.OUT_HIGH)
def step_gate():
    set(pins, 1)  # closed: the budget is spent (a restart lands here too)
    pull(block)  # the next budget: steps - 1
    mov(y, osr)
    set(pins, 0)  # open
    label("count")
    wait(0, pin, 0)  # in_base: the STEP line
    wait(1, pin, 0)
    jmp(y_dec, "count")


@rp2.asm_pio()
def step_counter():
    label("edge")
    wait(0, pin, 0)  # in_base: the STEP line
    wait(1, pin, 0)
    jmp(pin, "dir_high")  # jmp_pin: DIR, sampled at the edge as the driver does
    jmp(x_dec, "edge")  # DIR low: X counts down from all-ones
    jmp("edge")  # (X passed zero after 2**32 edges: keep counting)
    label("dir_high")
    jmp(y_dec, "edge")  # DIR high: Y counts down from all-ones; wraps to "edge" either way


def high_cycles_for(step_pulse_min_ns: int) -> int:
    """The driver's minimum STEP high time rounded up to whole microseconds, plus one of margin."""
    return (step_pulse_min_ns + 999) // 1000 + 1


def command_word(steps: int, dir_level: int) -> int:
    """The generator's command for `steps` (>= 1) pulses with DIR at `dir_level`."""
    return ((steps - 1) << 1) | dir_level


def timing_word(period_us: int, high_cycles: int) -> int:
    """The generator's timing word; `period_us` must be at least min_period_us(high_cycles)."""
    return period_us - high_cycles - STEP_OVERHEAD_CYCLES


def min_period_us(high_cycles: int) -> int:
    return high_cycles + STEP_OVERHEAD_CYCLES
