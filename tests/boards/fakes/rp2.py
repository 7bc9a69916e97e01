"""A fake of MicroPython's `rp2` module whose state machines run in the RP2040 PIO emulator.

`asm_pio` is the host twin of the board's assembler (tests.boards.fakes.pio_asm), so the
firmware's PIO source is assembled as on the board. Every StateMachine shares the pads of
`bus`; a test moves time forward with `bus.run_us(...)`.
"""

from tests.boards.fakes import pio_asm, pio_cosim
from tests.boards.fakes import machine as fake_machine

asm_pio = pio_asm.asm_pio
asm_pio_encode = pio_asm.asm_pio_encode
bus = pio_cosim.Pads()
machines: dict = {}


def reset() -> None:
    global bus
    bus = pio_cosim.Pads()
    machines.clear()


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
        sys_hz = fake_machine.freq()
        if freq == -1:
            clkdiv = 1
        else:
            if sys_hz % freq:
                raise ValueError("the fake runs whole clock dividers only; %d Hz from %d Hz is not one" % (freq, sys_hz))
            clkdiv = sys_hz // freq
        self.id = id
        self.freq = freq
        self.pins = dict(in_base=_pin(in_base), out_base=_pin(out_base), set_base=_pin(set_base), jmp_pin=_pin(jmp_pin))
        self.m = pio_cosim.Machine(bus, prog, clkdiv, **self.pins)
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
