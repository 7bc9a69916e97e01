"""Boot: read the board definition, build its HAL, the library and the controller, then loop.

On a board, `main.py` at the root of the filesystem calls `run()` and `board.json` sits
beside it. On the host: `micropython -m firmware.main boards/VIRTUAL/board.json` (the virtual
board's sim bus, `firmware/hal/simbus.py`, calls the same `MainLoop.step` in lockstep instead).
"""

import sys

from firmware.board import Board
from firmware.controller import Controller
from firmware.datafile import load_json
from firmware.library import DrugLibrary
from firmware.protocol import Protocol
from firmware.selftest import check_pins
from firmware.syringes import SyringeTable


def import_module(dotted: str):
    """`importlib.import_module` for MicroPython too."""
    mod = __import__(dotted)
    for part in dotted.split(".")[1:]:
        mod = getattr(mod, part)
    return mod


def assemble(hal, board: Board, reset_cause: str = "power") -> Controller:
    """The controller on a built HAL, with the library and syringe table from their data files."""
    return Controller(hal, board, DrugLibrary.load(), SyringeTable.load(), reset_cause=reset_cause)


def boot(board_json: str = "board.json") -> Controller:
    board = Board(load_json(board_json))
    _name, ok, detail = check_pins(board)  # before the HAL claims a pin: every problem named at once
    if not ok:
        raise ValueError(detail)
    hal = import_module(board.hal_module).build(board)
    return assemble(hal, board, hal.reset_cause() if hasattr(hal, "reset_cause") else "power")


class MainLoop:
    """One step of the main loop, in its order: serve the operator link, one control tick, then
    the journal's housekeeping. A board calls it every tick_ms; the sim bus once per frame."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.protocol = Protocol(controller, controller.hal.link, controller.board.telemetry_ms)

    def step(self, now_ms: int) -> None:
        self.protocol.poll(now_ms)
        self.controller.tick(now_ms)
        self.controller.service(now_ms)


def run(controller: Controller, ticks: int = -1) -> None:
    """The main loop, forever (or `ticks` times): one `MainLoop.step`, then sleep to the next
    tick. A late tick is not made up: the motion plan is a function of time, so it simply
    catches up on the next one."""
    import time

    hal = controller.hal
    loop = MainLoop(controller)
    # The virtual board's time moves only when told; a board's moves by itself.
    sleep_ms = getattr(hal, "wait_ms", None) or getattr(time, "sleep_ms", None)
    _keyboard_interrupt(False)
    try:
        _loop(controller, loop, sleep_ms, ticks)
    finally:
        _keyboard_interrupt(True)


def _keyboard_interrupt(on: bool) -> None:
    """On a board the operator link is the USB console, where a 0x03 byte is Ctrl-C: one noisy
    byte would raise KeyboardInterrupt and stop the pump until the watchdog reset it. The loop
    turns that off and gives it back when it ends (SERVICE action=flash), so mpremote can then
    take the REPL. The unix port and CPython have no such byte on their link."""
    try:
        import micropython
    except ImportError:
        return
    kbd_intr = getattr(micropython, "kbd_intr", None)
    if kbd_intr is not None:
        kbd_intr(3 if on else -1)


def _loop(controller: Controller, loop: MainLoop, sleep_ms, ticks: int) -> None:
    clock = controller.hal.clock
    period_ms = controller.board.tick_ms
    while ticks != 0 and not controller.service_state.loop_stopped:  # SERVICE action=flash stops it
        now = clock.now_ms()
        loop.step(now)
        wait_ms = clock.diff_ms(now + period_ms, clock.now_ms())
        if wait_ms > 0 and sleep_ms is not None:
            sleep_ms(wait_ms)
        if ticks > 0:
            ticks -= 1


if __name__ == "__main__":
    ctl = boot(sys.argv[1] if len(sys.argv) > 1 else "board.json")
    print("booted", ctl.board.name, "library", ctl.library.version, "state", ctl.state_name())
