"""The emulated Pico as a board backend: one control tick of the engine is one exchange with the
chip (hil/emulated_pico.py), the plant's pins in, STEP position, enable and link bytes out.

    backend = Rp2040Backend("RPI_PICO")        # the UF2 from $PICO_UF2 or ../shared/rp2/
    backend.boot()
    outputs, tx = backend.tick(100, inputs, rx)  # inputs: force_raw, force_samples, switches

Unlike the interpreter backends, the firmware here runs its own main loop on its own clock:
a tick runs the chip for dt_ms of emulated time, in which the firmware ticks as often as its
board.json says. The HX711 gets the plant's conversion when the plant's sample count moves;
the controller state is the last one the firmware reported (telemetry or STATUS), since it is
not on any pin. The flash lives in the emulator across power cuts; with a storage_dir the
littlefs region is also saved there at quit (fs.img) and loaded from there at the first boot.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hil.emulated_pico import EmulatedChip, PinState
from hil.pico_image import filesystem_image, firmware_files
from sim.bus import STATE_NAMES, SWITCH_END_STOP, SWITCH_PLUNGER, SWITCH_SYRINGE, BoardOutputs

STATE = re.compile(rb"\bstate=([a-z_]+)")


def switch_levels(bits: int) -> dict[str, bool]:
    """The plant's switch bits as the board's switch pins (end_stop_full is never reached)."""
    return {"syringe_present": bool(bits & SWITCH_SYRINGE), "plunger_engaged": bool(bits & SWITCH_PLUNGER),
            "end_stop_empty": bool(bits & SWITCH_END_STOP), "end_stop_full": False}


def build_firmware(out_root: Path) -> Path:
    """`make build BOARD=RPI_PICO` into out_root; returns the tree."""
    from tools.build import build

    return build("RPI_PICO", out_root)["out"]


def default_image(replace: dict[str, bytes] | None = None) -> bytes:
    """The pump's littlefs image, fresh from the sources (files in `replace` put over it)."""
    with tempfile.TemporaryDirectory() as tmp:
        return filesystem_image(build_firmware(Path(tmp)), replace)


class Rp2040Backend:
    runtime = "rp2040"

    def __init__(self, board: str = "RPI_PICO", storage_dir: Path | None = None, uf2: str | None = None,
                 fs_image: bytes | None = None) -> None:
        if board != "RPI_PICO":
            raise ValueError(f"runtime 'rp2040' runs board RPI_PICO, not {board!r}")
        self.files = firmware_files(uf2)
        self.storage_dir = Path(storage_dir) if storage_dir is not None else None
        saved = self.storage_dir / "fs.img" if self.storage_dir is not None else None
        if fs_image is None and saved is not None and saved.exists():
            fs_image = saved.read_bytes()
        self._image = fs_image
        self.chip: EmulatedChip | None = None
        self.version = "micropython (%s) on an emulated RP2040" % self.files[0].name
        self.pins: PinState | None = None
        self._powered = False

    def boot(self) -> None:
        if self.chip is None:
            self.chip = EmulatedChip(*self.files, self._image if self._image is not None else default_image())
            pins = self.chip.state
        else:
            pins = self.chip.power_cut(0) if not self._powered else self.chip.state
        self.pins = pins
        self._powered = True
        self._zero = pins.position  # the firmware's counter starts at 0 with each life
        self._samples = -1
        self._partial = b""
        self._state = 0

    def tick(self, dt_ms: int, inputs, rx: bytes) -> tuple[BoardOutputs, bytes]:
        chip = self.chip
        assert chip is not None and self.pins is not None and self._powered, "tick() before boot()"
        new_sample = inputs.force_samples != self._samples
        self._samples = inputs.force_samples
        self.pins = chip.exchange(self.pins.t_us + dt_ms * 1000, rx, inputs.force_raw if new_sample else None,
                                  switch_levels(inputs.switches))
        tx = self._whole_lines(self.pins.serial)
        for name in STATE.findall(tx):
            if name.decode() in STATE_NAMES:
                self._state = STATE_NAMES.index(name.decode())
        return BoardOutputs(self.pins.position - self._zero, self.pins.enabled, self._state), tx

    def _whole_lines(self, data: bytes) -> bytes:
        """Asynchronous lines ("! ...") only once whole, so a host's pty may drop one whole; any
        other partial line (a REPL prompt) at once."""
        data = self._partial + data
        head, nl, tail = data.rpartition(b"\n")
        self._partial = tail if tail.startswith(b"!") else b""
        return head + nl + (b"" if self._partial else tail)

    def power_cut(self) -> None:
        self._powered = False

    def quit(self) -> None:
        chip, self.chip = self.chip, None
        if chip is None:
            return
        if self.storage_dir is not None:
            self.storage_dir.mkdir(parents=True, exist_ok=True)
            (self.storage_dir / "fs.img").write_bytes(chip.filesystem())
        chip.close()
