"""The virtual board's end of the sim bus: the firmware in lockstep with a simulated plant.

The plant side owns time. Each control tick it sends one frame on this process's stdin:
how much time passed, the force sensor's latest conversion, the switches, and any bytes the
operator sent on the command link. The board advances its clock and step generator, handles
the link, runs one controller tick, and answers on stdout with the STEP-line position, the
driver's enable, the state and the bytes it wrote to the link. Nothing happens between frames,
so a run is deterministic for a given plant and seed, and as fast as the two processes can talk.

    plant -> board: "<BIiIBH" kind ('T' tick, 'Q' quit), dt_ms, force_raw, force_samples,
                    switch bits (1 syringe, 2 plunger engaged, 4 end stop), n_rx; then n_rx bytes
    board -> plant: "<iBBH"  position, enabled, state, n_tx; then n_tx bytes

Run it as `micropython -m firmware.hal.simbus boards/VIRTUAL/board.json` from the repository
root; `hil/virtual_board.py` does, and relays the command link to a pty.
"""

import struct
import sys

from firmware.board import Board
from firmware.controller import Controller
from firmware.datafile import load_json
from firmware.hal.virtual import VirtualBoard
from firmware.library import DrugLibrary
from firmware.protocol import Protocol
from firmware.syringes import SyringeTable

IN_HEADER = "<BIiIBH"
OUT_HEADER = "<iBBH"
IN_SIZE = struct.calcsize(IN_HEADER)
TICK = 84  # 'T'
QUIT = 81  # 'Q'


class SimBusBoard:
    """Firmware + virtual hardware, advanced one bus frame at a time."""

    def __init__(self, board_json: str, start_ms: int = 0, storage_dir=None, reset_cause: str = "power") -> None:
        self.board = Board(load_json(board_json))
        self.vb = VirtualBoard(start_ms, storage=_storage(storage_dir))
        self.vb.auto_force = False  # the plant's load cell comes over the bus
        self.controller = Controller(self.vb.hal, self.board, DrugLibrary.load(), SyringeTable.load(),
                                     reset_cause=reset_cause)
        self.protocol = Protocol(self.controller, self.vb.link, self.board.telemetry_ms)

    def step(self, dt_ms: int, force_raw: int, force_samples: int, switches: int, rx: bytes) -> bytes:
        vb = self.vb
        vb.advance(dt_ms)
        vb.force.update(force_raw, force_samples)
        vb.switches.set_bits(switches)
        if rx:
            vb.link.rx.extend(rx)
        if self.controller.service_state.loop_stopped:
            return b""  # main.py has returned (SERVICE action=flash): the board sits at its REPL
        now = vb.clock.now_ms()
        self.protocol.poll(now)
        self.controller.tick(now)
        self.controller.service(now)
        tx = vb.link.tx
        if tx:
            vb.link.tx = bytearray()
            return bytes(tx)
        return b""

    def outputs(self) -> tuple:
        return self.vb.stepper.position, 1 if self.vb.stepper.enabled else 0, self.controller.state


def _storage(storage_dir):
    """The board's flash: files in storage_dir (they survive a power cycle), else RAM."""
    if not storage_dir:
        return None
    from firmware.hal.file_storage import FileStorage

    return FileStorage(storage_dir)


def _read_exact(stream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def serve(board_json: str, storage_dir=None) -> None:
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    bus = SimBusBoard(board_json, storage_dir=storage_dir)
    while True:
        head = _read_exact(stdin, IN_SIZE)
        if not head:
            return
        kind, dt_ms, force_raw, samples, switches, n_rx = struct.unpack(IN_HEADER, head)
        if kind == QUIT:
            return
        rx = _read_exact(stdin, n_rx) if n_rx else b""
        tx = bus.step(dt_ms, force_raw, samples, switches, rx)
        position, enabled, state = bus.outputs()
        stdout.write(struct.pack(OUT_HEADER, position, enabled, state, len(tx)) + tx)
        stdout.flush()


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else "boards/VIRTUAL/board.json", sys.argv[2] if len(sys.argv) > 2 else None)
