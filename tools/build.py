"""Build a board's filesystem image: the firmware compiled to .mpy, its data and board.json.

    python -m tools.build RPI_PICO        # make build BOARD=RPI_PICO
    RPI_PICO: 28 modules, 61,402 bytes of .mpy, 9,310 bytes of data -> build/RPI_PICO

build/<BOARD>/ mirrors the package layout (firmware/hal/rp2.mpy, firmware/data/*.json), with
board.json and main.py at its root, ready for `mpremote cp -r`. Which files go is listed in
boards/<BOARD>/manifest.py, with the mpy-cross architecture: armv6m for the RP2040's
Cortex-M0+, xtensawin for the ESP32 (Xtensa with windowed registers), per mpy-cross -march.
"""

import hashlib
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOARDS = ROOT / "boards"
BUILD = ROOT / "build"
MARCHES = ("armv6m", "xtensawin")


class BuildError(Exception):
    pass


class Manifest:
    """boards/<BOARD>/manifest.py: MARCH, MODULES, EXCLUDE and DATA globs."""

    def __init__(self, board: str) -> None:
        path = BOARDS / board / "manifest.py"
        if not path.exists():
            known = ", ".join(sorted(p.parent.name for p in BOARDS.glob("*/manifest.py")))
            raise BuildError("no boards/%s/manifest.py; boards that can be built: %s" % (board, known))
        spec = runpy.run_path(str(path))
        self.board = board
        self.march = spec["MARCH"]
        if self.march not in MARCHES:
            raise BuildError("boards/%s/manifest.py: MARCH %r is not one of %s" % (board, self.march, ", ".join(MARCHES)))
        self.exclude = set(spec.get("EXCLUDE", []))
        self.modules = self._expand(spec["MODULES"])
        self.data = self._expand(spec.get("DATA", []))

    def _expand(self, globs: list) -> list[Path]:
        found = set()
        for pattern in globs:
            for p in ROOT.glob(pattern):
                rel = p.relative_to(ROOT).as_posix()
                if p.is_file() and rel not in self.exclude and "__pycache__" not in p.parts:
                    found.add(p)
        return sorted(found)


def mpy_cross(source: Path, target: Path, march: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    rel = source.relative_to(ROOT).as_posix()
    proc = subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + march, "-s", rel, "-o", str(target), str(source)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError("mpy-cross failed on %s:\n%s" % (rel, (proc.stderr or proc.stdout).strip()))


def build(board: str, out_root: Path = BUILD) -> dict:
    """Compile and copy one board's files; returns sizes for the summary line."""
    manifest = Manifest(board)
    out = out_root / board
    if out.exists():
        shutil.rmtree(out)
    mpy_bytes = 0
    for source in manifest.modules:
        target = out / source.relative_to(ROOT).with_suffix(".mpy")
        mpy_cross(source, target, manifest.march)
        mpy_bytes += target.stat().st_size
    data_bytes = 0
    for source in manifest.data + [BOARDS / board / "board.json"]:
        target = out / (source.name if source.name == "board.json" else source.relative_to(ROOT))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        data_bytes += target.stat().st_size
    shutil.copyfile(ROOT / "tools" / "board_main.py", out / "main.py")
    stamp_build(out)
    return {"board": board, "out": out, "modules": len(manifest.modules), "mpy_bytes": mpy_bytes, "data_bytes": data_bytes}


def stamp_build(out: Path) -> str:
    """Hash every file of the image (path and bytes) into firmware/data/build.json, which the
    pump reports as `build` in its ID answer: the same hash means the same image on the flash."""
    digest = hashlib.sha256()
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        digest.update(path.relative_to(out).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    build = digest.hexdigest()[:16]
    target = out / "firmware" / "data" / "build.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"build": build}) + "\n")
    return build


def summary_line(result: dict) -> str:
    return "%s: %d modules, %s bytes of .mpy, %s bytes of data -> %s" % (
        result["board"], result["modules"], format(result["mpy_bytes"], ","), format(result["data_bytes"], ","),
        result["out"].relative_to(ROOT) if result["out"].is_relative_to(ROOT) else result["out"])


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tools.build BOARD   (e.g. RPI_PICO, ESP32_DEVKITC)", file=sys.stderr)
        return 2
    try:
        print(summary_line(build(argv[0])))
    except BuildError as e:
        print("build: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
