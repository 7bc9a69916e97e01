"""What the emulated Pico runs: MicroPython's RPI_PICO UF2, the RP2040 boot ROM, and the
project's `make build BOARD=RPI_PICO` tree as a littlefs image at the flash offset MicroPython's
rp2 port mounts (0xA0000: the last 1408 KiB of the Pico's 2 MiB, 352 blocks of 4 KiB).

Where the files come from, first found wins:

    UF2:  --uf2 PATH, $PICO_UF2, ../shared/rp2/micropython-v1.28.0-RPI_PICO.uf2 (beside the repository)
    ROM:  $PICO_BOOTROM, ../shared/rp2/rp2040-bootrom-b1.bin

Neither is committed. A ROM must match boards/RPI_PICO/emulator.sha256; a UF2 the user names is
taken as given (any official RPI_PICO v1.28.x download), the one found beside the repository
must match the checksum too. `firmware_files()` raises `Unavailable` with a one-line reason
when they are missing, which the tests turn into a skip.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "rp2"
CHECKSUMS = ROOT / "boards" / "RPI_PICO" / "emulator.sha256"
UF2_NAME = "micropython-v1.28.0-RPI_PICO.uf2"
ROM_NAME = "rp2040-bootrom-b1.bin"
HOW_TO_GET_UF2 = ("download MicroPython for board RPI_PICO, v1.28.x, from micropython.org/download/RPI_PICO "
                  "and pass --uf2 PATH or set PICO_UF2")
FS_OFFSET = 0xA0000  # MICROPY_HW_FLASH_STORAGE_BYTES = 1408 KiB at the end of 2 MiB
FS_BLOCK_BYTES = 4096
FS_BLOCKS = 352


class Unavailable(Exception):
    """The UF2 or the ROM is missing or is not the expected file."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def known_checksums(path: Path = CHECKSUMS) -> dict[str, str]:
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name] = digest
    return sums


def _checked(path: Path, name: str) -> Path:
    digest = sha256(path)
    if digest != known_checksums()[name]:
        raise Unavailable(f"{path}: SHA256 {digest} is not the {name} of {CHECKSUMS.relative_to(ROOT)}")
    return path


def find_uf2(given: str | None = None) -> Path:
    named = given or os.environ.get("PICO_UF2")
    if named:
        path = Path(named)
        if not path.is_file():
            raise Unavailable(f"no MicroPython UF2 at {path}: {HOW_TO_GET_UF2}")
        return path
    beside = SHARED / UF2_NAME
    if not beside.is_file():
        raise Unavailable(f"no MicroPython UF2 for the emulated Pico: {HOW_TO_GET_UF2}")
    return _checked(beside, UF2_NAME)


def find_rom() -> Path:
    named = os.environ.get("PICO_BOOTROM")
    path = Path(named) if named else SHARED / ROM_NAME
    if not path.is_file():
        raise Unavailable(f"no RP2040 boot ROM at {path}: set PICO_BOOTROM to the B1 ROM (pico-bootrom, 16 KiB)")
    return _checked(path, ROM_NAME)


def firmware_files(uf2: str | None = None) -> tuple[Path, Path]:
    """(UF2, boot ROM), or Unavailable naming what is missing and how to get it."""
    return find_uf2(uf2), find_rom()


def _littlefs(mount: bool = True):
    from littlefs import LittleFS

    # MicroPython's rp2 port formats with these (extmod/vfs_lfs.c defaults for a 4 KiB block).
    return LittleFS(block_size=FS_BLOCK_BYTES, block_count=FS_BLOCKS, prog_size=256, read_size=32,
                    lookahead_size=32, name_max=255, mount=mount)


def filesystem_image(tree: Path, replace: dict[str, bytes] | None = None) -> bytes:
    """A littlefs image of `tree` (a `make build` output), files in `replace` (path -> bytes) put
    in or over it, e.g. another main.py."""
    fs = _littlefs()
    files = {p.relative_to(tree).as_posix(): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}
    files.update(replace or {})
    for rel, data in files.items():
        parent = rel.rpartition("/")[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        with fs.open(rel, "wb") as f:
            f.write(data)
    return bytes(fs.context.buffer)


def read_file(image: bytes, path: str) -> bytes:
    """One file out of an image the emulated Pico saved (its journal, say)."""
    fs = _littlefs(mount=False)
    fs.context.buffer = bytearray(image)
    fs.mount()
    with fs.open(path, "rb") as f:
        return f.read()


def short_run_library() -> bytes:
    """The drug library with the depression profile's hard duration floor lowered to 1 min (and
    its rate ceiling raised to match), so an emulated infusion completes in minutes of emulated
    time. For the emulated bench only; a pump is never flashed with it."""
    import json

    doc = json.loads((ROOT / "firmware" / "data" / "drug_library.json").read_text())
    profile = doc["drugs"]["ketamine"]["profiles"]["depression"]
    profile["duration_min"]["hard"][0] = 1
    profile["rate_ug_kg_h"]["hard"][1] = 60000
    doc["library_version"] += "-SHORT-RUNS"
    return json.dumps(doc).encode()


# 0.5 mL of 10 mg/mL over 2 min for 50 kg (100 ug/kg): 0.5 mL in a BD Plastipak 50 mL, soft-limit
# duration confirmed. Needs short_run_library().
SHORT_RX = {"drug": "ketamine", "profile": "depression", "conc_ug_ml": 10000, "weight_g": 50000,
            "dose_ug_kg": 100, "duration_min": 2, "syringe": "bd_plastipak_50"}
