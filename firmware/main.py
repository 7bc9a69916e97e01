"""Boot: read the board definition, build its HAL, the library and the controller, then loop.

On a board, `main.py` at the root of the filesystem calls `run()` and `board.json` sits
beside it. On the host: `micropython -m firmware.main boards/VIRTUAL/board.json` (the virtual
board's own launcher in hil/ drives the loop in lockstep instead).
"""

import sys

from firmware.board import Board
from firmware.controller import Controller
from firmware.datafile import load_json
from firmware.library import DrugLibrary
from firmware.selftest import check_pins
from firmware.syringes import SyringeTable


def import_module(dotted: str):
    """`importlib.import_module` for MicroPython too."""
    mod = __import__(dotted)
    for part in dotted.split(".")[1:]:
        mod = getattr(mod, part)
    return mod


def boot(board_json: str = "board.json") -> Controller:
    board = Board(load_json(board_json))
    _name, ok, detail = check_pins(board)  # before the HAL claims a pin: every problem named at once
    if not ok:
        raise ValueError(detail)
    hal = import_module(board.hal_module).build(board)
    cause = hal.reset_cause() if hasattr(hal, "reset_cause") else "power"
    return Controller(hal, board, DrugLibrary.load(), SyringeTable.load(), reset_cause=cause)


def run(controller: Controller, ticks: int = -1) -> None:
    """The main loop, forever (or `ticks` times): serve the operator link, one control tick,
    then the journal's housekeeping, then sleep to the next tick. A late tick is not made up:
    the motion plan is a function of time, so it simply catches up on the next one."""
    import time

    from firmware.protocol import Protocol

    hal = controller.hal
    protocol = Protocol(controller, hal.link, controller.board.telemetry_ms)
    clock = hal.clock
    period_ms = controller.board.tick_ms
    # The virtual board's time moves only when told; a board's moves by itself.
    sleep_ms = getattr(hal, "wait_ms", None) or getattr(time, "sleep_ms", None)
    while ticks != 0 and not controller.service_state.loop_stopped:  # SERVICE action=flash stops it
        now = clock.now_ms()
        protocol.poll(now)
        controller.tick(now)
        controller.service(now)
        wait_ms = clock.diff_ms(now + period_ms, clock.now_ms())
        if wait_ms > 0 and sleep_ms is not None:
            sleep_ms(wait_ms)
        if ticks > 0:
            ticks -= 1


if __name__ == "__main__":
    ctl = boot(sys.argv[1] if len(sys.argv) > 1 else "board.json")
    print("booted", ctl.board.name, "library", ctl.library.version, "state", ctl.state_name())
