"""Booting from a board.json and the main loop (both interpreters)."""

from firmware import frames
from firmware.controller import COMPLETE, IDLE
from firmware.main import boot, run
from tests.firmware.protocol_fixture import STANDARD


def test_boot_from_the_virtual_board_definition():
    """boot() reads boards/VIRTUAL/board.json, builds its HAL and comes up idle."""
    ctl = boot("boards/VIRTUAL/board.json")
    assert ctl.board.name == "VIRTUAL" and ctl.state == IDLE and ctl.library.version.startswith("KET-")


def test_main_loop_serves_the_link_and_completes_an_infusion():
    """Commands on the link, then the loop alone: program, start and completion, counted exactly."""
    ctl = boot("boards/VIRTUAL/board.json")
    link = ctl.hal.link
    link.rx.extend(frames.seal("1 PROGRAM " + STANDARD) + frames.seal("2 VITALS sbp=125 dbp=80 bp_id=1 hr=72 spo2=98")
                   + frames.seal("3 START"))
    run(ctl, ticks=40 * 600 + 20)
    assert ctl.state == COMPLETE and ctl.delivered_steps() == ctl.program.total_steps
    out = bytes(link.tx)
    assert b"1 OK PROGRAM" in out and b"3 OK START state=running" in out and b"value=complete" in out
