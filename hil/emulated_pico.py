"""The emulated Pico's chip, driven from Python one exchange at a time.

`hil/pico/serve.mjs` runs MicroPython's RPI_PICO UF2 on an emulated RP2040 (npm rp2040js, pinned
in package-lock.json) in a Node process. Time on the chip moves only when this side asks:

    chip = EmulatedChip(uf2, rom, fs_image)
    pins = chip.exchange(10_000, serial=b"ID\\n", hx711=12600, switches={"syringe_present": True})
    pins.serial, pins.forward_edges, pins.enabled, pins.t_us      # the chip ran to t = 10 ms

Each exchange hands the chip what the host typed on its USB port, the HX711's new conversion (if
the load cell made one since the last exchange) and the switch levels, runs it to the given
emulated instant, and returns what the firmware wrote and the STEP edges the driver has counted
since power-on (by DIR at each edge, and those made with the driver disabled). A power cut
starts the chip again from its flash, as does an expired watchdog (counted in `watchdog_resets`).
This is the seam a simulation engine's board backend wraps.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hil.pico_image import FS_BLOCK_BYTES, FS_BLOCKS, FS_OFFSET, ROOT
from tools.node import node_path

SERVE = ROOT / "hil" / "pico" / "serve.mjs"
SETUP_HINT = "run `make setup` (npm ci installs the pinned rp2040js)"


@dataclass(frozen=True)
class PinState:
    """What the chip's outside saw by the end of an exchange."""

    t_us: int
    serial: bytes
    forward_edges: int
    backward_edges: int
    disabled_edges: int  # STEP edges while EN was inactive: the motor did not move
    enabled: bool
    hx711_reads: int
    watchdog_resets: int
    flash_writes: int
    instructions: int

    @property
    def position(self) -> int:
        """Net microsteps the motor made (forward positive)."""
        return self.forward_edges - self.backward_edges

    @property
    def step_edges(self) -> int:
        return self.forward_edges + self.backward_edges + self.disabled_edges


def emulator_installed() -> bool:
    return (ROOT / "node_modules" / "rp2040js" / "package.json").exists()


class EmulatedChip:
    def __init__(self, uf2: Path, rom: Path, fs_image: bytes, board: str = "RPI_PICO") -> None:
        if not emulator_installed():
            raise FileNotFoundError(f"no rp2040js in node_modules: {SETUP_HINT}")
        self._dir = tempfile.TemporaryDirectory(prefix="emulated-pico-")
        image = Path(self._dir.name) / "fs.img"
        image.write_bytes(fs_image)
        board_json = ROOT / "boards" / board / "board.json"
        self.proc = subprocess.Popen(
            [node_path(), str(SERVE), "--rom", str(rom), "--uf2", str(uf2), "--board", str(board_json),
             "--fs", str(image), "--fs-offset", str(FS_OFFSET)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.state = self._answer()

    def _answer(self) -> PinState:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"the emulated Pico stopped: {err.strip() or 'no output'}")
        doc = json.loads(line)
        if "error" in doc:
            raise RuntimeError(f"the emulated Pico refused a request: {doc['error']}")
        edges = doc["edges"]
        self.state = PinState(doc["t_us"], base64.b64decode(doc.get("serial", "")), edges["forward"], edges["backward"],
                              edges["disabled"], doc["enabled"], doc["hx711_reads"], doc["watchdog_resets"],
                              doc["flash_writes"], doc["instructions"])
        return self.state

    def _ask(self, **request) -> PinState:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def exchange(self, run_to_us: int, serial: bytes = b"", hx711: int | None = None,
                 switches: dict[str, bool] | None = None) -> PinState:
        """Hand over the inputs, run the chip to `run_to_us` emulated, return what it did."""
        return self._ask(op="run", run_to_us=run_to_us, serial=base64.b64encode(serial).decode(), hx711=hx711,
                         switches=switches or {})

    def power_cut(self, off_us: int) -> PinState:
        """Power off for `off_us`, then on: a new chip life on the same flash."""
        return self._ask(op="power_cut", off_us=off_us)

    def filesystem(self) -> bytes:
        """The littlefs region of the flash as it is now."""
        path = Path(self._dir.name) / "saved.img"
        self._ask(op="save_flash", path=str(path), offset=FS_OFFSET, size=FS_BLOCKS * FS_BLOCK_BYTES)
        return path.read_bytes()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self._dir.cleanup()
