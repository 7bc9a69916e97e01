"""A host-side assembler for MicroPython's `@rp2.asm_pio` DSL, so the PIO programs the board runs
can be assembled on a PC and run in the RP2040 PIO emulator.

On the board, `rp2.asm_pio(...)` calls the decorated function twice with the module's globals
swapped for the DSL's names (`pull`, `out`, `jmp`, `x`, `pins`, ...): once to find the labels,
once to emit the 16-bit instruction words. This module does the same with the same program
layout, so the firmware's own source file is the one assembled here:

    @asm_pio(set_init=PIO_OUT_LOW)
    def square():
        set(pins, 1)[1]
        set(pins, 0)

    square[0]  ->  array('H', [0xe101, 0xe000])

The program is the 9-field list MicroPython v1.28.0's `modules/rp2.py` returns (the third
offset came with the RP2350's third PIO block): [instructions, offset in PIO0, offset in PIO1,
offset in PIO2, EXECCTRL bits, SHIFTCTRL bits, out_init, set_init, sideset_init]. Instruction
encodings are those of the RP2040 datasheet, chapter 3.4.
"""

from array import array
from typing import Callable

PIO_IN_LOW, PIO_IN_HIGH, PIO_OUT_LOW, PIO_OUT_HIGH = 0, 1, 2, 3
SHIFT_LEFT, SHIFT_RIGHT = 0, 1
JOIN_NONE, JOIN_TX, JOIN_RX = 0, 1, 2

PROG_DATA, PROG_OFFSET_PIO0, PROG_OFFSET_PIO1, PROG_OFFSET_PIO2, PROG_EXECCTRL, PROG_SHIFTCTRL = 0, 1, 2, 3, 4, 5
PROG_OUT_PINS, PROG_SET_PINS, PROG_SIDESET_PINS = 6, 7, 8
PROG_MAX_FIELDS = 9

_BLOCK_BIT = 0x20
_IF_BIT = 0x40


class PioAsmError(ValueError):
    pass


class _Emitter:
    """Collects one program; its bound methods are the DSL's instructions and directives."""

    def __init__(self, out_init=None, set_init=None, sideset_init=None, side_pindir=False,
                 in_shiftdir=SHIFT_LEFT, out_shiftdir=SHIFT_LEFT, autopush=False, autopull=False,
                 push_thresh=32, pull_thresh=32, fifo_join=JOIN_NONE) -> None:
        shiftctrl = (fifo_join << 30 | (pull_thresh & 31) << 25 | (push_thresh & 31) << 20
                     | out_shiftdir << 19 | in_shiftdir << 18 | int(autopull) << 17 | int(autopush) << 16)
        self.prog = [array("H"), -1, -1, -1, int(side_pindir) << 29, shiftctrl, out_init, set_init, sideset_init]
        self.labels: dict[str, int] = {}
        self.sideset_count = _pin_count(sideset_init)
        self.sideset_opt = False
        self.wrap_used = False
        self.pass_no = 0
        self.n_instr = 0
        self.n_side = 0
        self.delay_max = 31

    # ---- passes --------------------------------------------------------------------------
    def start_pass(self, pass_no: int) -> None:
        if pass_no == 1:
            if not self.wrap_used and self.n_instr:
                self.wrap()
            if self.sideset_count:
                # Side-set becomes optional (one more bit) when some instruction has none.
                self.sideset_opt = self.n_side != self.n_instr
                if self.sideset_opt:
                    self.prog[PROG_EXECCTRL] |= 1 << 30
            self.delay_max = 31 >> (self.sideset_count + int(self.sideset_opt))
        self.pass_no = pass_no
        self.n_instr = 0
        self.n_side = 0

    # ---- modifiers (chained on the last instruction) -------------------------------------
    def __getitem__(self, delay: int) -> "_Emitter":
        return self.delay(delay)

    def delay(self, delay: int) -> "_Emitter":
        if self.pass_no == 1:
            if not 0 <= delay <= self.delay_max:
                raise PioAsmError("delay %d out of range 0..%d" % (delay, self.delay_max))
            self.prog[PROG_DATA][-1] |= delay << 8
        return self

    def side(self, value: int) -> "_Emitter":
        self.n_side += 1
        if self.pass_no == 1:
            if not self.sideset_count:
                raise PioAsmError("side() used but the program declares no sideset_init")
            if not 0 <= value < (1 << self.sideset_count):
                raise PioAsmError("side value %d does not fit %d pins" % (value, self.sideset_count))
            top = 13 - self.sideset_count - int(self.sideset_opt)
            self.prog[PROG_DATA][-1] |= int(self.sideset_opt) << 12 | value << top
        return self

    # ---- directives ----------------------------------------------------------------------
    def wrap_target(self) -> None:
        self.prog[PROG_EXECCTRL] |= self.n_instr << 7

    def wrap(self) -> None:
        if not self.n_instr:
            raise PioAsmError("wrap() before any instruction")
        self.prog[PROG_EXECCTRL] |= (self.n_instr - 1) << 12
        self.wrap_used = True

    def label(self, name: str) -> None:
        if self.pass_no == 0:
            if name in self.labels:
                raise PioAsmError("duplicate label %r" % name)
            self.labels[name] = self.n_instr

    # ---- instructions --------------------------------------------------------------------
    def word(self, instr: int, target=None) -> "_Emitter":
        self.n_instr += 1
        if self.pass_no == 1:
            address = 0
            if target is not None:
                if target not in self.labels:
                    raise PioAsmError("unknown label %r" % target)
                address = self.labels[target]
            self.prog[PROG_DATA].append(instr | address)
        return self

    def nop(self) -> "_Emitter":
        return self.mov(2, 2)  # mov y, y

    def jmp(self, cond, target=None) -> "_Emitter":
        if target is None:
            cond, target = 0, cond
        return self.word(cond << 5, target)

    def wait(self, polarity: int, source, index: int) -> "_Emitter":
        # `gpio` is 0, `pin` is the jmp condition 6, `irq` is this emitter's irq method.
        src = 0 if source == 0 else 1 if source == 6 else 2
        return self.word(0x2000 | polarity << 7 | src << 5 | index)

    def in_(self, source: int, bits: int) -> "_Emitter":
        return self.word(0x4000 | source << 5 | _bit_count(bits))

    def out(self, dest: int, bits: int) -> "_Emitter":
        dest = 7 if dest == 8 else dest  # exec
        return self.word(0x6000 | dest << 5 | _bit_count(bits))

    def push(self, a: int = 0, b: int = 0) -> "_Emitter":
        return self.word(0x8000 | _fifo_flags(a | b))

    def pull(self, a: int = 0, b: int = 0) -> "_Emitter":
        return self.word(0x8080 | _fifo_flags(a | b))

    def mov(self, dest: int, source: int) -> "_Emitter":
        dest = 4 if dest == 8 else dest  # exec
        return self.word(0xA000 | dest << 5 | source)

    def irq(self, mod, index=None) -> "_Emitter":
        if index is None:
            mod, index = 0, mod
        return self.word(0xC000 | (mod & 0x60) | index)

    def set(self, dest: int, data: int) -> "_Emitter":
        if not 0 <= data <= 31:
            raise PioAsmError("set data %d out of range 0..31" % data)
        return self.word(0xE000 | dest << 5 | data)


def _pin_count(init) -> int:
    if init is None:
        return 0
    return 1 if isinstance(init, int) else len(init)


def _bit_count(bits: int) -> int:
    if not 0 < bits <= 32:
        raise PioAsmError("bit count %d out of range 1..32" % bits)
    return bits & 31


def _fifo_flags(value: int) -> int:
    if not value & 1:
        value |= _BLOCK_BIT  # block unless `noblock` was given
    return value & (_BLOCK_BIT | _IF_BIT)


_OPERANDS = {
    "gpio": 0, "pins": 0, "x": 1, "y": 2, "null": 3, "pindirs": 4, "pc": 5, "status": 5,
    "isr": 6, "osr": 7, "exec": 8,
    "invert": lambda v: v | 0x08, "reverse": lambda v: v | 0x10,
    "not_x": 1, "x_dec": 2, "not_y": 3, "y_dec": 4, "x_not_y": 5, "pin": 6, "not_osre": 7,
    "noblock": 0x01, "block": 0x21, "iffull": 0x40, "ifempty": 0x40,
    "clear": 0x40, "rel": lambda v: v | 0x10,
}
_DIRECTIVES = ("wrap_target", "wrap", "label")
_INSTRUCTIONS = ("word", "nop", "jmp", "wait", "in_", "out", "push", "pull", "mov", "irq", "set")


def asm_pio(**config) -> Callable[[Callable[[], None]], list]:
    """The decorator: runs the program function twice with the DSL in place of its globals."""
    emit = _Emitter(**config)

    def assemble(fn: Callable[[], None]) -> list:
        scope = fn.__globals__
        saved = dict(scope)
        scope.clear()
        try:
            scope.update(_OPERANDS)
            for name in _DIRECTIVES + _INSTRUCTIONS:
                scope[name] = getattr(emit, name)
            emit.start_pass(0)
            fn()
            emit.start_pass(1)
            fn()
        finally:
            scope.clear()
            scope.update(saved)
        return emit.prog

    return assemble


def asm_pio_encode(text: str, sideset_count: int, sideset_opt: bool = False) -> int:
    """One instruction from its DSL text, as `rp2.asm_pio_encode` does for `StateMachine.exec`."""
    emit = _Emitter()
    emit.sideset_count = sideset_count
    emit.sideset_opt = bool(sideset_opt)
    emit.delay_max = 31 >> (sideset_count + int(emit.sideset_opt))
    emit.pass_no = 1
    scope = dict(_OPERANDS)
    for name in _INSTRUCTIONS:
        scope[name] = getattr(emit, name)
    scope["jmp"] = None  # labels mean nothing outside a program, as on the board
    exec(text, scope)
    if len(emit.prog[PROG_DATA]) != 1:
        raise PioAsmError("expected exactly one instruction in %r" % text)
    return emit.prog[PROG_DATA][0]


def wrap_bounds(prog) -> tuple[int, int]:
    """(wrap_target, wrap_top) from a program's EXECCTRL bits."""
    execctrl = prog[PROG_EXECCTRL]
    return (execctrl >> 7) & 31, (execctrl >> 12) & 31
