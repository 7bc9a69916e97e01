"""The host-side PIO assembler against instruction words published by the RP2040 datasheet and
the Pico SDK's pioasm output."""

from typing import TYPE_CHECKING

import pytest

from tests.boards.fakes.pio_asm import PioAsmError, asm_pio, asm_pio_encode, wrap_bounds

if TYPE_CHECKING:
    from tests.boards.fakes.pio_dsl import *  # noqa: F403 - the DSL, for the type checker only


def test_squarewave_from_the_datasheet():
    """set pindirs / set pins [1] / set pins / jmp: 0xe081 0xe101 0xe000 0x0001."""

    @asm_pio()
    def squarewave():
        set(pindirs, 1)
        label("again")
        set(pins, 1)[1]
        set(pins, 0)
        jmp("again")

    assert list(squarewave[0]) == [0xE081, 0xE101, 0xE000, 0x0001]


def test_ws2812_with_side_set():
    """The SDK's ws2812 program (side-set 1, delays): 0x6221 0x1123 0x1400 0xa442, wrap 0..3."""

    @asm_pio(sideset_init=2)
    def ws2812():
        wrap_target()
        label("bitloop")
        out(x, 1).side(0)[2]
        jmp(not_x, "do_zero").side(1)[1]
        jmp("bitloop").side(1)[4]
        label("do_zero")
        nop().side(0)[4]
        wrap()

    assert list(ws2812[0]) == [0x6221, 0x1123, 0x1400, 0xA442]
    assert wrap_bounds(ws2812) == (0, 3)


def test_uart_rx_waits_jumps_and_pushes():
    """The SDK's uart_rx: wait 0 pin / set x [10] / in pins / jmp x-- [6] / jmp pin / irq wait /
    wait 1 pin / jmp / push block."""

    @asm_pio()
    def uart_rx():
        wrap_target()
        label("start")
        wait(0, pin, 0)
        set(x, 7)[10]
        label("bitloop")
        in_(pins, 1)
        jmp(x_dec, "bitloop")[6]
        jmp(pin, "good_stop")
        irq(block, 0)
        wait(1, pin, 0)
        jmp("start")
        label("good_stop")
        push(block)
        wrap()

    assert list(uart_rx[0]) == [0x2020, 0xEA27, 0x4001, 0x0642, 0x00C8, 0xC020, 0x20A0, 0x0000, 0x8020]


def test_pull_mov_and_exec_encodings():
    """pull block 0x80a0, mov y osr 0xa047, push noblock 0x8000, pull noblock 0x8080, mov x ~null."""
    assert asm_pio_encode("pull(block)", 0) == 0x80A0
    assert asm_pio_encode("mov(y, osr)", 0) == 0xA047
    assert asm_pio_encode("push(noblock)", 0) == 0x8000
    assert asm_pio_encode("pull(noblock)", 0) == 0x8080
    assert asm_pio_encode("mov(x, invert(null))", 0) == 0xA02B


def test_optional_side_set_sets_the_enable_bit():
    """The SDK's uart_tx first word, `pull side 1 [7]` with optional side-set: 0x9fa0."""

    @asm_pio(sideset_init=3)
    def uart_tx():
        pull().side(1)[7]
        set(x, 7)

    assert uart_tx[0][0] == 0x9FA0


def test_errors_name_the_problem():
    """An unknown label, a delay too long for the side-set and a bad bit count are refused."""
    with pytest.raises(PioAsmError, match="unknown label"):

        @asm_pio()
        def bad_label():
            jmp("nowhere")

    with pytest.raises(PioAsmError, match="delay"):

        @asm_pio(sideset_init=2)
        def bad_delay():
            nop().side(0)[16]

    with pytest.raises(PioAsmError, match="bit count"):

        @asm_pio()
        def bad_bits():
            out(x, 33)
