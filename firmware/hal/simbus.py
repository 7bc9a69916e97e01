"""The sim bus: the virtual board's firmware in lockstep with a simulated plant, over a pipe.

The plant side owns time. Each control tick it sends one frame on this process's stdin: how
much time passed, the force sensor's latest conversion, the switches, and any bytes the
operator sent on the command link. The board advances its clock and step generator, runs one
main-loop step (link, controller tick, housekeeping; `firmware.main.MainLoop`) and answers on
stdout with the STEP-line position, the driver's enable, the state and the bytes it wrote to
the link. Nothing happens between frames, so a run is deterministic for a given plant and
seed, and as fast as the two processes can talk.

This module is the one definition of the wire format; the host (`sim/bus.py`) imports it.

    plant -> board: "<BIiIBI" kind ('T' tick, 'P' power back after a cut, 'Q' quit), dt_ms,
                    force_raw, force_samples, switch bits (1 syringe, 2 plunger engaged, 4 end
                    stop), n_rx; then n_rx bytes
    board -> plant: "<BiBBI"  kind ('R' reply), position, enabled, state, n_tx; then n_tx bytes

After 'P' the board boots again: the firmware is built anew (RAM, clock, STEP counter start
over) on the flash it had, as the in-process backend does; nothing else is carried over.

Every field is checked against its range before it is packed and after it is unpacked, on
both sides: MicroPython's `struct.pack` silently keeps the low bits of a value too large for
its field, and one wrong length puts every later frame out of step for good. A frame that
does not fit is a `BusError` naming the field, the value and the range, never a truncation;
a header whose kind byte is not one of the kinds above is a `BusError` too (the streams are
out of step), never guessed at.

Run it as `micropython -m firmware.hal.simbus boards/VIRTUAL/board.json [STORAGE_DIR]` from the
repository root; `sim/bus.py` does.
"""

import struct
import sys

from firmware.board import Board
from firmware.compat import const
from firmware.datafile import load_json
from firmware.hal.virtual import VirtualBoard
from firmware.main import MainLoop, assemble

IN_HEADER = "<BIiIBI"
OUT_HEADER = "<BiBBI"
IN_SIZE = struct.calcsize(IN_HEADER)
OUT_SIZE = struct.calcsize(OUT_HEADER)
TICK = const(84)  # 'T'
POWER = const(80)  # 'P'
QUIT = const(81)  # 'Q'
REPLY = const(82)  # 'R'
SWITCH_SYRINGE = const(1)
SWITCH_PLUNGER = const(2)
SWITCH_END_STOP = const(4)
# Far above what a tick carries (the protocol bounds its own per-tick work) and past the old
# 16-bit field, yet a frame fits twice in the MicroPython unix port's 2 MB heap. A length past
# it is a damaged or out-of-step header, reported instead of waiting for bytes that never come.
MAX_PAYLOAD_BYTES = const(1 << 18)
U32 = const(0xFFFFFFFF)
I32_MIN = const(-0x80000000)
I32_MAX = const(0x7FFFFFFF)
IN_FIELDS = (("kind", 0, 255), ("dt_ms", 0, U32), ("force_raw", I32_MIN, I32_MAX), ("force_samples", 0, U32),
             ("switches", 0, 7), ("n_rx", 0, MAX_PAYLOAD_BYTES))
OUT_FIELDS = (("kind", 0, 255), ("position", I32_MIN, I32_MAX), ("enabled", 0, 1), ("state", 0, 255),
              ("n_tx", 0, MAX_PAYLOAD_BYTES))


class BusError(ValueError):
    """A frame that cannot be sent or was not understood: the streams would be out of step."""


# Each frame is checked by one compound test (this runs twice per tick in MicroPython); only
# when it fails does _refuse look for the field to name.
def _refuse(fields, values, kinds) -> None:
    if values[0] not in kinds:
        raise BusError("sim bus frame: kind = %d, allowed %s (the streams are out of step)"
                       % (values[0], "/".join([str(k) for k in kinds])))
    for i in range(len(fields)):
        name, low, high = fields[i]
        v = values[i]
        if not low <= v <= high:
            raise BusError("sim bus frame: %s = %d, allowed %d..%d" % (name, v, low, high))


def pack_tick(dt_ms: int, force_raw: int, force_samples: int, switches: int, rx: bytes) -> bytes:
    n = len(rx)
    if not (0 <= dt_ms <= U32 and I32_MIN <= force_raw <= I32_MAX and 0 <= force_samples <= U32
            and 0 <= switches <= 7 and n <= MAX_PAYLOAD_BYTES):
        _refuse(IN_FIELDS, (TICK, dt_ms, force_raw, force_samples, switches, n), (TICK,))
    return struct.pack(IN_HEADER, TICK, dt_ms, force_raw, force_samples, switches, n) + rx


def pack_quit() -> bytes:
    return struct.pack(IN_HEADER, QUIT, 0, 0, 0, 0, 0)


def pack_power() -> bytes:
    return struct.pack(IN_HEADER, POWER, 0, 0, 0, 0, 0)


def unpack_tick(head: bytes) -> tuple:
    """(kind, dt_ms, force_raw, force_samples, switches, n_rx) of a plant -> board header."""
    values = struct.unpack(IN_HEADER, head)
    kind = values[0]
    if (kind != TICK and kind != POWER and kind != QUIT) or values[4] > 7 or values[5] > MAX_PAYLOAD_BYTES:
        _refuse(IN_FIELDS, values, (TICK, POWER, QUIT))
    return values


def pack_reply(position: int, enabled: int, state: int, tx: bytes) -> bytes:
    n = len(tx)
    if not (I32_MIN <= position <= I32_MAX and 0 <= enabled <= 1 and 0 <= state <= 255 and n <= MAX_PAYLOAD_BYTES):
        _refuse(OUT_FIELDS, (REPLY, position, enabled, state, n), (REPLY,))
    return struct.pack(OUT_HEADER, REPLY, position, enabled, state, n) + tx


def unpack_reply(head: bytes) -> tuple:
    """(position, enabled, state, n_tx) of a board -> plant header."""
    kind, position, enabled, state, n = struct.unpack(OUT_HEADER, head)
    if kind != REPLY or enabled > 1 or n > MAX_PAYLOAD_BYTES:
        _refuse(OUT_FIELDS, (kind, position, enabled, state, n), (REPLY,))
    return position, enabled, state, n


class SimBusBoard:
    """Firmware + virtual hardware, advanced one bus frame at a time."""

    def __init__(self, board_json: str, start_ms: int = 0, storage_dir=None, reset_cause: str = "power",
                 storage=None) -> None:
        self.board = Board(load_json(board_json))
        self.vb = VirtualBoard(start_ms, storage=storage if storage is not None else _storage(storage_dir))
        self.vb.auto_force = False  # the plant's load cell comes over the bus
        self.controller = assemble(self.vb.hal, self.board, reset_cause)
        self.loop = MainLoop(self.controller)

    def step(self, dt_ms: int, force_raw: int, force_samples: int, switches: int, rx: bytes) -> bytes:
        vb = self.vb
        vb.advance(dt_ms)
        vb.force.update(force_raw, force_samples)
        vb.switches.set_bits(switches)
        if rx:
            vb.link.rx.extend(rx)
        if self.controller.service_state.loop_stopped:
            return b""  # main.py has returned (SERVICE action=flash): the board sits at its REPL
        self.loop.step(vb.clock.now_ms())
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


def read_exact(stream, n: int) -> bytes:
    """n bytes from stream, or b"" if it ends first."""
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def serve(board_json: str, storage_dir=None, stdin=None, stdout=None) -> None:
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    bus = SimBusBoard(board_json, storage_dir=storage_dir)
    while True:
        head = read_exact(stdin, IN_SIZE)
        if not head:
            return
        kind, dt_ms, force_raw, samples, switches, n_rx = unpack_tick(head)
        if kind == QUIT:
            return
        rx = read_exact(stdin, n_rx) if n_rx else b""
        if len(rx) != n_rx:
            raise BusError("sim bus frame: %d of %d input bytes before the stream ended" % (len(rx), n_rx))
        if kind == POWER:
            bus = SimBusBoard(board_json, storage=bus.vb.storage)
            tx = b""
        else:
            tx = bus.step(dt_ms, force_raw, samples, switches, rx)
        position, enabled, state = bus.outputs()
        stdout.write(pack_reply(position, enabled, state, tx))
        stdout.flush()


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else "boards/VIRTUAL/board.json", sys.argv[2] if len(sys.argv) > 2 else None)
