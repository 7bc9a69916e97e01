"""The rp2 fakes behave like MicroPython v1.28.0 on an RP2040 (ports/rp2/rp2_pio.c, modules/rp2.py):
a 9-field program, put/get that block, an exec'd instruction that stalls, 16.8 fixed-point
clock dividers, 32 words of instruction memory per PIO block; and the Pico HAL never makes the
CPU wait on them during an infusion."""

import errno
from typing import TYPE_CHECKING

import pytest

from firmware.board import Board
from firmware.hal import rp2 as rp2_hal
from tests.boards.fakes import machine as fake_machine
from tests.boards.fakes import pio_asm, pio_cosim
from tests.boards.fakes import rp2 as fake_rp2

if TYPE_CHECKING:
    from tests.boards.fakes.pio_dsl import *  # noqa: F403 - the DSL, for the type checker only

STEP, DIR, GATE = 2, 3, 5


@pytest.fixture(autouse=True)
def host_storage_and_no_console(tmp_path, monkeypatch):
    monkeypatch.setattr(rp2_hal, "STORAGE_ROOT", str(tmp_path / "data"))
    monkeypatch.setattr(rp2_hal, "build_link", lambda board: None)


@fake_rp2.asm_pio(set_init=fake_rp2.PIO.OUT_LOW)
def square():
    set(pins, 1)
    set(pins, 0)


@fake_rp2.asm_pio()
def pull_and_drop():
    pull()
    out(null, 32)[31]


def test_a_program_has_the_nine_fields_of_rp2_py():
    """[data, offset PIO0, PIO1, PIO2, EXECCTRL, SHIFTCTRL, out_init, set_init, sideset_init]."""
    assert len(square) == pio_asm.PROG_MAX_FIELDS == 9
    assert square[pio_asm.PROG_OFFSET_PIO2] == -1 and square[pio_asm.PROG_SET_PINS] == fake_rp2.PIO.OUT_LOW


def test_put_blocks_until_the_machine_pulls_and_a_put_that_cannot_end_hangs():
    """Four words fill the TX FIFO; a fifth waits while the machine takes one (the CPU spins),
    and with the machine stopped it would wait for ever."""
    sm = fake_rp2.StateMachine(1, pull_and_drop)
    for word in range(4):
        sm.put(word)
    with pytest.raises(pio_cosim.Hang, match="not running"):
        sm.put(4)
    sm.active(1)
    sm.put(4)
    assert sm.m.cpu_blocked_cycles > 0


def test_get_on_an_empty_fifo_hangs():
    sm = fake_rp2.StateMachine(2, pull_and_drop)
    sm.active(1)
    with pytest.raises(pio_cosim.Hang, match="stalled"):
        sm.get()


def test_an_execd_pull_on_an_empty_fifo_stalls_the_machine_until_a_word_comes():
    """SMx_INSTR with a blocking pull and nothing in the FIFO: the machine holds on it; the
    next put completes it. A non-blocking pull (what the HAL uses to drain) never stalls."""
    sm = fake_rp2.StateMachine(3, pull_and_drop)
    sm.active(1)
    sm.exec("pull(noblock)")
    assert not sm.m.exec_stalled
    sm.exec("pull(block)")
    assert sm.m.exec_stalled
    fake_rp2.bus.run_us(10)
    assert sm.m.exec_stalled
    sm.put(7)
    fake_rp2.bus.run_us(1)
    assert not sm.m.exec_stalled


def test_a_frequency_that_does_not_divide_the_clock_runs_at_the_fractional_divider():
    """3 MHz from 125 MHz is a divider of 41 + 170/256: each instruction takes 41 or 42 sys
    cycles, and 1,000 of them take 1000 x 41.664 cycles to within one."""
    sm = fake_rp2.StateMachine(0, square, freq=3_000_000, set_base=STEP)
    sm.active(1)
    fake_rp2.bus.run_us(400)
    rises = fake_rp2.bus.rising_edges(STEP)
    assert {b - a for a, b in zip(rises, rises[1:])} <= {83, 84}
    div = fake_rp2.clkdiv256_for(3_000_000, fake_machine.freq()) / 256
    assert abs((rises[500] - rises[0]) - 500 * 2 * div) <= 1


def test_freq_out_of_the_dividers_range_is_refused():
    with pytest.raises(ValueError, match="freq out of range"):
        fake_rp2.StateMachine(0, square, freq=1000, set_base=STEP)


def test_instruction_memory_is_32_words_per_pio_block():
    """Programs add up per block (machines 0-3, 4-7); one program run by two machines is loaded
    once; a program that does not fit is ENOMEM."""
    @fake_rp2.asm_pio()
    def thirty_one():
        for _ in range(31):
            nop()

    fake_rp2.StateMachine(0, thirty_one)
    fake_rp2.StateMachine(1, thirty_one)  # shared
    with pytest.raises(OSError) as err:
        fake_rp2.StateMachine(2, square, set_base=STEP)
    assert err.value.errno == errno.ENOMEM
    fake_rp2.StateMachine(4, square, set_base=STEP)  # PIO1 has its own 32 words


def test_the_pumps_programs_fit_the_memory_of_their_blocks():
    """The generator, the gate and the counter, placed as the HAL places them."""
    rp2_hal.build(Board.load("RPI_PICO"))
    used = {block: sum(len(d) for d, in progs.values()) for block, progs in fake_rp2._loaded.items()}
    assert all(words <= fake_rp2.PIO_MEMORY_WORDS for words in used.values()), used


def test_the_hal_never_makes_the_cpu_wait_on_a_fifo():
    """Moves in a row, faster than the generator can play them: the backlog waits in the HAL,
    and no put() or get() ever blocks the control loop."""
    hal = rp2_hal.build(Board.load("RPI_PICO"))
    hal.stepper.enable(True)
    for _ in range(40):
        hal.stepper.move(30, 200)
        fake_rp2.bus.run_us(1000)
        hal.counter.count()
    while hal.stepper.pending():
        fake_rp2.bus.run_us(10_000)
    assert hal.counter.count() == 1200
    assert all(sm.m.cpu_blocked_cycles == 0 for sm in fake_rp2.machines.values())
