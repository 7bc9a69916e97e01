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
from firmware.syringes import SyringeTable


def import_module(dotted: str):
    """`importlib.import_module` for MicroPython too."""
    mod = __import__(dotted)
    for part in dotted.split(".")[1:]:
        mod = getattr(mod, part)
    return mod


def boot(board_json: str = "board.json") -> Controller:
    board = Board(load_json(board_json))
    hal = import_module(board.hal_module).build(board)
    cause = hal.reset_cause() if hasattr(hal, "reset_cause") else "power"
    return Controller(hal, board, DrugLibrary.load(), SyringeTable.load(), reset_cause=cause)


def run(controller: Controller, ticks: int = -1) -> None:
    """The main loop: one controller tick per board tick, forever (or `ticks` times)."""
    import time

    clock = controller.hal.clock
    period_ms = controller.board.tick_ms
    next_ms = clock.now_ms()
    while ticks != 0:
        controller.tick(clock.now_ms())
        controller.service(clock.now_ms())
        next_ms = clock.now_ms() + period_ms  # a late tick is not made up: the plan is time-based
        wait_ms = clock.diff_ms(next_ms, clock.now_ms())
        if wait_ms > 0 and hasattr(time, "sleep_ms"):
            time.sleep_ms(wait_ms)  # type: ignore[attr-defined]
        if ticks > 0:
            ticks -= 1


if __name__ == "__main__":
    ctl = boot(sys.argv[1] if len(sys.argv) > 1 else "board.json")
    print("booted", ctl.board.name, "library", ctl.library.version, "state", ctl.state_name())
