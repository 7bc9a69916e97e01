"""The in-process board backend: the firmware files imported into CPython (the fastest).

A tick is a direct call of the sim bus's board (`firmware.hal.simbus.SimBusBoard`), the same
object the MicroPython interpreter runs at the far end of the bus. The flash is a folder when
one is given, else RAM that this backend keeps across power cuts, as a board's flash is kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

from firmware.hal.simbus import SimBusBoard
from firmware.hal.virtual import MemoryStorage
from sim.board_backend import BoardInputs, BoardOutputs, board_json


class InProcessBackend:
    runtime = "cpython"

    def __init__(self, board: str, storage_dir: Path | None = None) -> None:
        self.board_json = str(board_json(board))
        self.storage_dir = storage_dir
        self.flash = MemoryStorage() if storage_dir is None else None
        self.version = "cpython " + sys.version.split()[0]
        self.bus: SimBusBoard | None = None
        self._outputs = BoardOutputs(0, False, 0)  # refilled each tick

    def boot(self) -> None:
        self.bus = SimBusBoard(self.board_json, storage_dir=None if self.storage_dir is None else str(self.storage_dir),
                               storage=self.flash)

    def tick(self, dt_ms: int, inputs: BoardInputs, rx: bytes) -> tuple[BoardOutputs, bytes]:
        bus = self.bus
        assert bus is not None, "tick() before boot()"
        tx = bus.step(dt_ms, inputs.force_raw, inputs.force_samples, inputs.switches, rx)
        out = self._outputs
        out.position, enabled, out.state = bus.outputs()
        out.enabled = bool(enabled)
        return out, tx

    def power_cut(self) -> None:
        self.bus = None

    def quit(self) -> None:
        self.bus = None
