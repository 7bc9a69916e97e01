"""The board's own /main.py, copied there by tools/flash.py: boot the pump firmware from
/board.json, then serve the operator protocol and tick the controller forever.

    >>> import main      # what MicroPython does at power-on
"""

from firmware.main import boot
from firmware.protocol import Protocol


def serve(board_json: str = "/board.json") -> None:
    controller = boot(board_json)
    hal = controller.hal
    protocol = Protocol(controller, hal.link, controller.board.telemetry_ms)
    clock = hal.clock
    period_ms = controller.board.tick_ms
    import time

    while True:
        now = clock.now_ms()
        protocol.poll(now)
        controller.tick(now)
        wait_ms = clock.diff_ms(now + period_ms, clock.now_ms())
        if wait_ms > 0:
            time.sleep_ms(wait_ms)  # type: ignore[attr-defined]  # MicroPython


if __name__ == "__main__":
    serve()
