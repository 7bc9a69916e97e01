"""Several PIO state machines on one set of GPIO pads, run together in the RP2040 PIO emulator.

The emulator (PyPI rp2040-pio-emulator, module `pioemu`) runs one state machine. A pump needs
three on the same STEP line, so this module runs one emulator per state machine in system
clock cycles: the machine whose next instruction is earliest goes next, a pin it drives changes
the shared pads at that cycle, and the others see the change on their next instruction.

A machine stalled on `wait` or `pull` is parked and woken when a pad or its FIFO changes,
because the emulator would otherwise step it through every idle cycle at 125 MHz. The CPU's
side (put, get, exec, restart, active) acts on a machine's state between instructions, as the
hardware's FIFO and SMx_INSTR registers do, and block or stall where MicroPython v1.28.0's
`ports/rp2/rp2_pio.c` does: `put()` on a full TX FIFO and `get()` on an empty RX FIFO hold the
CPU (the machines run on while it waits; `cpu_blocked_cycles` adds it up, and a wait that can
never end is a `Hang`), and an `exec()`'d instruction that cannot complete (a blocking `pull`
on an empty FIFO, a `wait` on a pin) stalls the machine on it until it can, as SMx_INSTR does.
A clock divider is 16.8 fixed point, as the chip's: a fractional one gives a machine cycle of
the integer part or one more, averaging the exact ratio.

Limits of this model, none of which the pump's programs use: no side-set, no IRQ flags, no
autopush/autopull, no input synchroniser delay (2 cycles on the chip).
"""

from collections import deque
from dataclasses import replace

from pioemu import State, emulate
from pioemu.shift_register import ShiftRegister

from tests.boards.fakes import pio_asm

SYS_HZ = 125_000_000
CPU_WAIT_LIMIT_CYCLES = SYS_HZ  # a CPU wait longer than 1 s of sys clock is taken for a hang


class Hang(AssertionError):
    """The CPU would wait here for ever (the watchdog would reset the board)."""


def _rotr(value: int, n: int) -> int:
    n &= 31
    return ((value >> n) | (value << (32 - n))) & 0xFFFF_FFFF


def _rotl(value: int, n: int) -> int:
    return _rotr(value, 32 - (n & 31))


def _init_levels(init) -> list[int]:
    if init is None:
        return []
    return [init] if isinstance(init, int) else list(init)


class Edge:
    """One change of one pad: at sys cycle t, pin went to level."""

    __slots__ = ("t", "pin", "level")

    def __init__(self, t: int, pin: int, level: int) -> None:
        self.t, self.pin, self.level = t, pin, level

    def __repr__(self) -> str:
        return "Edge(t=%d, pin=%d, level=%d)" % (self.t, self.pin, self.level)


class Machine:
    """One state machine: its program, its pin mapping and its emulator state."""

    def __init__(self, pads: "Pads", prog, clkdiv256: int, in_base=None, out_base=None,
                 set_base=None, jmp_pin=None) -> None:
        if prog[pio_asm.PROG_SIDESET_PINS] is not None:
            raise NotImplementedError("side-set is not modelled")
        self.pads = pads
        self.opcodes = list(prog[pio_asm.PROG_DATA])
        self.clkdiv256 = clkdiv256  # the divider in 1/256 sys cycles (16.8 fixed point)
        self._frac = 0  # 1/256 cycles carried toward the next machine cycle
        self.stalled_exec = None  # an exec'd opcode waiting to complete
        self.cpu_blocked_cycles = 0
        self.rot = in_base or 0  # the emulator reads `wait pin i` as pad i: rotate by in_base
        shiftctrl = prog[pio_asm.PROG_SHIFTCTRL]
        self.wrap_target, self.wrap_top = pio_asm.wrap_bounds(prog)
        out_levels = _init_levels(prog[pio_asm.PROG_OUT_PINS])
        set_levels = _init_levels(prog[pio_asm.PROG_SET_PINS])
        self.shift_osr_right = bool(shiftctrl >> 19 & 1)
        self.shift_isr_right = bool(shiftctrl >> 18 & 1)
        self.out_view = (self._view_pin(out_base or 0), len(out_levels))
        self.set_view = (self._view_pin(set_base or 0), len(set_levels))
        self.jmp_view = self._view_pin(jmp_pin or 0)
        self.outputs = 0  # pad mask this machine drives
        for base, levels in ((out_base, out_levels), (set_base, set_levels)):
            for i, level in enumerate(levels):
                assert base is not None, "a program with out_init/set_init needs its base pin"
                pin = base + i
                self.outputs |= 1 << pin
                pads.drive(pin, level & 1, pads.now)  # PIO.OUT_HIGH = 3, OUT_LOW = 2
        self.state = State(pin_directions=_rotr(self.outputs, self.rot), pin_values=_rotr(pads.levels, self.rot))
        self.t = pads.now  # sys cycle of the next instruction
        self.running = False
        self.parked = False
        self._gen = None
        pads.machines.append(self)

    def _view_pin(self, pin: int) -> int:
        return (pin - self.rot) & 31

    def _inputs(self, state: State) -> int:
        return _rotr(self.pads.levels, self.rot)

    def _emulate(self, opcodes: list[int], state: State, wrap_target: int, wrap_top: int):
        return emulate(opcodes, stop_when=lambda op, s: False, initial_state=state, input_source=self._inputs,
                       shift_osr_right=self.shift_osr_right, shift_isr_right=self.shift_isr_right,
                       wrap_target=wrap_target, wrap_top=wrap_top, out_base=self.out_view[0], out_count=self.out_view[1],
                       set_base=self.set_view[0], set_count=self.set_view[1], jmp_pin=self.jmp_view)

    # ---- running -----------------------------------------------------------------------
    def _cycles(self, n: int) -> int:
        """Sys cycles for n machine cycles at a 16.8 fixed-point divider."""
        total = self._frac + n * self.clkdiv256
        self._frac = total & 255
        return total >> 8

    def step(self) -> None:
        """Execute one instruction (or one stalled cycle) at self.t."""
        if self.stalled_exec is not None:
            if self._try_exec(self.stalled_exec, self.t):
                self.stalled_exec = None
            else:
                self.park()
            self.t += self._cycles(1)
            return
        if self._gen is None:
            self._gen = self._emulate(self.opcodes, self.state, self.wrap_target, self.wrap_top)
        before, after = next(self._gen)
        self.state = after
        driven = _rotl(after.pin_values, self.rot) & self.outputs
        self.pads.drive_mask(self.outputs, driven, self.t, self)
        self.t += self._cycles(after.clock - before.clock)
        if _same_but_clock(before, after):
            self.park()

    def park(self) -> None:
        self.parked = True
        self._gen = None

    def wake(self, t: int) -> None:
        """Something this machine may be waiting for changed at sys cycle t."""
        if self.parked:
            self.parked = False
            if t > self.t:
                # the next machine-clock edge at or after t
                k = -(-(256 * (t - self.t) - self._frac) // self.clkdiv256)
                self.t += self._cycles(k)

    def _edit(self, **changes) -> None:
        self.state = replace(self.state, **changes)
        self._gen = None
        self.wake(self.pads.now)

    # ---- the CPU's side ----------------------------------------------------------------
    def _cpu_wait(self, ready, what: str) -> None:
        """The CPU spins (the machines run on) until ready(); a wait with no end is a Hang."""
        start = self.pads.now
        while not ready():
            if self.pads.now - start >= CPU_WAIT_LIMIT_CYCLES or not self.pads.can_run():
                raise Hang("StateMachine.%s() would block the CPU for ever: %s" % (what, self._why()))
            self.pads.run_until(self.pads.next_event_t())
        self.cpu_blocked_cycles += self.pads.now - start

    def _why(self) -> str:
        if not self.running:
            return "the state machine is not running"
        return "the state machine is stalled at pc %d" % self.state.program_counter

    def put(self, word: int) -> None:
        self._cpu_wait(lambda: len(self.state.transmit_fifo) < 4, "put")
        self._edit(transmit_fifo=deque(list(self.state.transmit_fifo) + [word & 0xFFFF_FFFF]))

    def get(self) -> int:
        self._cpu_wait(lambda: bool(self.state.receive_fifo), "get")
        fifo = deque(self.state.receive_fifo)
        word = fifo.popleft()
        self._edit(receive_fifo=fifo)
        return word

    def exec(self, opcode: int) -> None:
        """SMx_INSTR: run one instruction now; the program counter moves only for a jump. One
        that cannot complete holds the machine (EXEC_STALLED) until it can."""
        if not self._try_exec(opcode, self.pads.now):
            self.stalled_exec = opcode
            self._gen = None
            self.wake(self.pads.now)

    def _try_exec(self, opcode: int, t: int) -> bool:
        sentinel = 31
        gen = self._emulate([opcode], replace(self.state, program_counter=0), sentinel, 0)
        before, after = next(gen)
        if _same_but_clock(before, after):
            return False
        jumped = (opcode >> 13) == 0 and after.program_counter != sentinel
        pc = after.program_counter if jumped else self.state.program_counter
        self._edit(**{k: getattr(after, k) for k in _REGISTER_FIELDS}, program_counter=pc)
        driven = _rotl(after.pin_values, self.rot) & self.outputs
        self.pads.drive_mask(self.outputs, driven, t, self)
        return True

    @property
    def exec_stalled(self) -> bool:
        return self.stalled_exec is not None

    def restart(self) -> None:
        """SM_RESTART (which also clears a stalled exec), then a jump to the program's first
        instruction (StateMachine.restart)."""
        self.stalled_exec = None
        self._edit(program_counter=0, input_shift_register=ShiftRegister(0, 0),
                   output_shift_register=ShiftRegister(0, 32))

    def set_running(self, on: bool) -> None:
        if on and not self.running:
            self.t = max(self.t, self.pads.now)
            self.parked = False
            self._gen = None
        self.running = on

    def tx_level(self) -> int:
        return len(self.state.transmit_fifo)

    def rx_level(self) -> int:
        return len(self.state.receive_fifo)


_REGISTER_FIELDS = ("x_register", "y_register", "input_shift_register", "output_shift_register",
                    "transmit_fifo", "receive_fifo", "pin_values")


def _same_but_clock(a: State, b: State) -> bool:
    return (a.program_counter == b.program_counter and a.x_register == b.x_register
            and a.y_register == b.y_register and a.pin_values == b.pin_values
            and a.input_shift_register == b.input_shift_register
            and a.output_shift_register == b.output_shift_register
            and list(a.transmit_fifo) == list(b.transmit_fifo)
            and list(a.receive_fifo) == list(b.receive_fifo))


class Pads:
    """The GPIO pads every machine reads and some drive, with a record of every change."""

    def __init__(self) -> None:
        self.levels = 0
        self.now = 0  # sys cycles
        self.machines: list[Machine] = []
        self.edges: list[Edge] = []

    def drive(self, pin: int, level: int, t: int) -> None:
        self.drive_mask(1 << pin, level << pin, t, None)

    def drive_mask(self, mask: int, values: int, t: int, source) -> None:
        new = (self.levels & ~mask) | (values & mask)
        changed = new ^ self.levels
        if not changed:
            return
        self.levels = new
        for pin in range(32):
            if changed >> pin & 1:
                self.edges.append(Edge(t, pin, new >> pin & 1))
        for m in self.machines:
            if m is not source:
                m.wake(t)

    def level(self, pin: int) -> int:
        return self.levels >> pin & 1

    def run_until(self, t_end: int) -> None:
        """Run every running machine up to (not including) sys cycle t_end."""
        while True:
            ready = [m for m in self.machines if m.running and not m.parked and m.t < t_end]
            if not ready:
                break
            m = min(ready, key=lambda mm: mm.t)
            self.now = m.t
            m.step()
        self.now = max(self.now, t_end)

    def can_run(self) -> bool:
        return any(m.running and not m.parked for m in self.machines)

    def next_event_t(self) -> int:
        """Just past the next instruction of any running machine."""
        return min(m.t for m in self.machines if m.running and not m.parked) + 1

    def run_us(self, duration_us: int) -> None:
        self.run_until(self.now + duration_us * (SYS_HZ // 1_000_000))

    def rising_edges(self, pin: int) -> list[int]:
        return [e.t for e in self.edges if e.pin == pin and e.level == 1]

    def pulses(self, pin: int) -> list[tuple[int, int]]:
        """(rise, fall) sys-cycle pairs of every complete high pulse on pin."""
        out, rise = [], None
        for e in self.edges:
            if e.pin != pin:
                continue
            if e.level == 1:
                rise = e.t
            elif rise is not None:
                out.append((rise, e.t))
                rise = None
        return out
