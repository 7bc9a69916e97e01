"""The board's own /main.py, copied there by tools/flash.py: boot the pump firmware from
/board.json, then serve the operator protocol, tick the controller and keep the journal, forever
(firmware.main.run).

    >>> import main      # what MicroPython does at power-on
"""

from firmware.main import boot, run


def serve(board_json: str = "/board.json") -> None:
    run(boot(board_json))


if __name__ == "__main__":
    serve()
