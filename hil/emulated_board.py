"""The emulated Pico on a pty: the official MicroPython RPI_PICO firmware with the project's .mpy
build in its littlefs, on an emulated RP2040 (hil/emulated_backend.py), wired pin by pin to the
simulator's plant, its USB port on a pty.

    python -m hil emulated [--uf2 PATH] [--speed 1.0]

builds the firmware (`tools.build`, as `make build BOARD=RPI_PICO`), puts it in a littlefs image
at MicroPython's flash offset, boots the chip and prints the pty path, which pyserial,
mpremote, pyserial-miniterm and the harness open like /dev/ttyACM0.

Every `exchange_ms` of emulated time the chip pauses and the plant takes its turn: the STEP
edges the driver counted (by DIR; only those made with EN active move the plunger) advance the
syringe and line, the load cell's new conversion goes to the HX711's pins, and the syringe,
plunger and end-stop switches to theirs. The plant runs on the chip's clock, however fast or
slow the emulator goes. Serving, pacing, scheduling and power cuts are the virtual board's.
"""

from __future__ import annotations

import sys

from hil.emulated_backend import Rp2040Backend, default_image
from hil.emulated_pico import PinState
from hil.pico_image import Unavailable, firmware_files
from hil.virtual_board import VirtualBoard, serve_until_interrupted, speed_error
from sim.board_plant import BoardPlant

BOARD = "RPI_PICO"
EXCHANGE_MS = 10


class EmulatedBoard(VirtualBoard):
    """The engine's board process on the emulated chip (the rp2040 backend), its USB on a pty;
    `start()` serves in a thread, like the virtual board."""

    def __init__(self, uf2: str | None = None, fs_image: bytes | None = None, plant=None, speed: float = 0.0,
                 exchange_ms: int = EXCHANGE_MS) -> None:
        self.runtime = "rp2040"
        self.chip = Rp2040Backend(BOARD, uf2=uf2, fs_image=fs_image)
        super().__init__(plant=plant if plant is not None else BoardPlant(board=BOARD), speed=speed, board=BOARD,
                         backend=self.chip, tick_ms=exchange_ms)

    @property
    def firmware(self) -> Rp2040Backend:
        return self.chip

    @property
    def pins(self) -> PinState:
        """The chip's pins as of the last exchange (STEP edges since the first power-on)."""
        assert self.chip.pins is not None, "booted with the board process"
        return self.chip.pins


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m hil emulated",
                                 description="Serve the firmware on an emulated Pico, its USB port on a pty.")
    ap.add_argument("--uf2", help="MicroPython RPI_PICO v1.28.x UF2 (default: $PICO_UF2, then ../shared/rp2/)")
    ap.add_argument("--speed", type=float, default=1.0, help="emulated seconds per wall second (0: as fast as possible)")
    args = ap.parse_args(argv)
    if speed_error(args.speed):
        print(speed_error(args.speed), file=sys.stderr)
        return 2
    try:
        firmware_files(args.uf2)  # before the build: a missing UF2 is said at once
        board = EmulatedBoard(args.uf2, default_image(), speed=args.speed)
    except (Unavailable, FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return serve_until_interrupted(board.serve_forever, board.close,
                                   f"emulated Pico ({board.firmware.files[0].name}) command link: {board.port}",
                                   "attach a serial terminal, mpremote or the harness to that path; Ctrl-C stops")
