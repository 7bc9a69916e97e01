"""A fake of MicroPython's `rp2` module whose state machines run in the RP2040 PIO emulator.

`asm_pio` is the host twin of the board's assembler (tests.boards.fakes.pio_asm), so the
firmware's PIO source is assembled as on the board. Every StateMachine shares the pads of
`bus`; a test moves time forward with `bus.run_us(...)`.

It follows MicroPython v1.28.0's `ports/rp2/rp2_pio.c`: state machines 0-3 are PIO0's and 4-7
PIO1's; each PIO block has 32 words of instruction memory, a program is loaded once per block
and shared by the machines that run it, and one that does not fit is OSError(ENOMEM);
`freq=` becomes the chip's 16.8 fixed-point clock divider (truncated, between 1 and 65536),
so a frequency that does not divide the system clock runs at the fractional divider the chip
would use; `put()`/`get()` block and `exec()` stalls as on the chip (tests.boards.fakes.pio_cosim).
"""

import errno

from tests.boards.fakes import pio_asm, pio_cosim
from tests.boards.fakes import machine as fake_machine

asm_pio = pio_asm.asm_pio
asm_pio_encode = pio_asm.asm_pio_encode
bus = pio_cosim.Pads()
machines: dict = {}


PIO_MEMORY_WORDS = 32
_loaded: dict = {}  # PIO block -> {id(program data): (program data, words)}


def reset() -> None:
    global bus
    bus = pio_cosim.Pads()
    machines.clear()
    _loaded.clear()


def clkdiv256_for(freq: int, sys_hz: int) -> int:
    """The divider rp2_pio.c programs for `freq`, in 1/256 sys cycles."""
    div256 = sys_hz * 256 // freq
    if not 256 <= div256 < 65536 * 256:
        raise ValueError("freq out of range")
    return div256


def _load(sm_id: int, prog) -> None:
    block = sm_id // 4
    programs = _loaded.setdefault(block, {})
    data = prog[pio_asm.PROG_DATA]
    if id(data) in programs:
        return
    used = sum(len(d) for d, in programs.values())
    if used + len(data) > PIO_MEMORY_WORDS:
        raise OSError(errno.ENOMEM, "PIO%d: %d words in use, %d more do not fit in 32" % (block, used, len(data)))
    programs[id(data)] = (data,)


class PIO:
    IN_LOW, IN_HIGH, OUT_LOW, OUT_HIGH = pio_asm.PIO_IN_LOW, pio_asm.PIO_IN_HIGH, pio_asm.PIO_OUT_LOW, pio_asm.PIO_OUT_HIGH
    SHIFT_LEFT, SHIFT_RIGHT = pio_asm.SHIFT_LEFT, pio_asm.SHIFT_RIGHT
    JOIN_NONE, JOIN_TX, JOIN_RX = pio_asm.JOIN_NONE, pio_asm.JOIN_TX, pio_asm.JOIN_RX


def _pin(p):
    if p is None:
        return None
    return p if isinstance(p, int) else p.id


class StateMachine:
    def __init__(self, id: int, prog, freq: int = -1, *, in_base=None, out_base=None, set_base=None,
                 jmp_pin=None, sideset_base=None) -> None:
        if not 0 <= id < 8:
            raise ValueError("invalid StateMachine")
        clkdiv256 = 256 if freq == -1 else clkdiv256_for(freq, fake_machine.freq())
        _load(id, prog)
        self.id = id
        self.freq = freq
        self.pins = dict(in_base=_pin(in_base), out_base=_pin(out_base), set_base=_pin(set_base), jmp_pin=_pin(jmp_pin))
        self.m = pio_cosim.Machine(bus, prog, clkdiv256, **self.pins)
        self.execs: list[int] = []
        machines[id] = self

    def active(self, value=None):
        if value is not None:
            self.m.set_running(bool(value))
        return self.m.running

    def restart(self) -> None:
        self.m.restart()

    def exec(self, instr) -> None:
        if isinstance(instr, str):
            instr = asm_pio_encode(instr, 0)
        self.execs.append(instr)
        self.m.exec(instr)

    def put(self, value, shift: int = 0) -> None:
        self.m.put(value << shift)

    def get(self, buf=None, shift: int = 0) -> int:
        return self.m.get() >> shift

    def tx_fifo(self) -> int:
        return self.m.tx_level()

    def rx_fifo(self) -> int:
        return self.m.rx_level()
