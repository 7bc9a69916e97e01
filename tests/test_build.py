"""tools.build: every firmware module a board's manifest names compiles with mpy-cross for that
board's architecture, and the image mirrors the package layout with data and board.json."""

import json
import subprocess

import pytest

from tools import build as builder

BOARDS = ("RPI_PICO", "ESP32_DEVKITC")
MPY_MAGIC = ord("M")
# .mpy header byte 2: bits 2.. hold the native architecture (py/persistentcode.h MP_NATIVE_ARCH_*);
# bytecode-only files carry 0 so they load anywhere, native code carries the target's number.
MPY_ARCH_BY_MARCH = {"armv6m": 4, "xtensawin": 10}


@pytest.fixture(scope="module", params=BOARDS)
def image(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    return request.param, builder.build(request.param, out_root=out)


def test_every_listed_module_is_compiled(image):
    """Each firmware .py the manifest keeps has a .mpy at the same package path, and no other board's HAL."""
    board, result = image
    manifest = builder.Manifest(board)
    out = result["out"]
    for source in manifest.modules:
        mpy = out / source.relative_to(builder.ROOT).with_suffix(".mpy")
        assert mpy.exists() and mpy.read_bytes()[0] == MPY_MAGIC, mpy
    other = "esp32.mpy" if board == "RPI_PICO" else "rp2.mpy"
    assert not (out / "firmware" / "hal" / other).exists()
    assert not (out / "firmware" / "hal" / "virtual.mpy").exists()


@pytest.mark.parametrize("board", BOARDS)
def test_native_code_is_compiled_for_the_boards_architecture(board, tmp_path):
    """A @micropython.native probe compiled as the build compiles comes out for the board's CPU."""
    march = builder.Manifest(board).march
    probe = builder.ROOT / "build" / ("native_probe_%s.py" % board)
    probe.parent.mkdir(exist_ok=True)
    probe.write_text("import micropython\n\n@micropython.native\ndef f(x):\n    return x + 1\n")
    try:
        builder.mpy_cross(probe, tmp_path / "probe.mpy", march)
    finally:
        probe.unlink()
    assert (tmp_path / "probe.mpy").read_bytes()[2] >> 2 == MPY_ARCH_BY_MARCH[march]


def test_data_board_json_and_main_are_copied(image):
    """firmware/data/*.json, board.json (the board's own) and main.py sit where the firmware looks."""
    board, result = image
    out = result["out"]
    assert json.loads((out / "board.json").read_text())["name"] == board
    assert (out / "firmware" / "data" / "syringes.json").exists()
    assert "boot" in (out / "main.py").read_text()
    assert result["mpy_bytes"] > 0 and result["modules"] > 10


def test_the_boards_use_their_own_architectures():
    """The Pico builds for armv6m (Cortex-M0+), the DevKitC for xtensawin."""
    assert builder.Manifest("RPI_PICO").march == "armv6m"
    assert builder.Manifest("ESP32_DEVKITC").march == "xtensawin"


def test_unknown_board_is_named_with_the_ones_that_exist():
    """A typo in BOARD lists the boards that have a manifest."""
    with pytest.raises(builder.BuildError, match="RPI_PICO"):
        builder.Manifest("RPI_PICOO")


def test_syntax_error_is_reported_with_the_file(tmp_path):
    """mpy-cross's complaint comes back with the source path."""
    bad = builder.ROOT / "build" / "syntax_probe.py"
    bad.parent.mkdir(exist_ok=True)
    bad.write_text("def broken(:\n")
    try:
        with pytest.raises(builder.BuildError, match="syntax_probe.py"):
            builder.mpy_cross(bad, tmp_path / "x.mpy", "armv6m")
    finally:
        bad.unlink()


def test_command_line_prints_one_summary_line(tmp_path):
    """`python -m tools.build` with no board explains its usage and exits 2."""
    proc = subprocess.run([builder.sys.executable, "-m", "tools.build"], cwd=builder.ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_the_image_carries_its_build_hash(image, tmp_path):
    """firmware/data/build.json holds a hash of the image's files: the same for a rebuild of the
    same sources, another when one byte of the image differs; the pump reports it in ID."""
    import shutil

    board, result = image
    stamp = result["out"] / "firmware" / "data" / "build.json"
    stamped = json.loads(stamp.read_text())["build"]
    assert len(stamped) == 16 and int(stamped, 16) >= 0
    again = builder.build(board, out_root=tmp_path)
    assert json.loads((again["out"] / "firmware" / "data" / "build.json").read_text())["build"] == stamped
    changed = shutil.copytree(result["out"], tmp_path / "changed")
    (changed / "firmware" / "data" / "build.json").unlink()
    library = changed / "firmware" / "data" / "drug_library.json"
    library.write_text(library.read_text().replace("2026", "2027", 1))
    assert builder.stamp_build(changed) != stamped
