"""What the emulated Pico is given: the UF2 and boot ROM found or refused with the reason, the
build in a littlefs image MicroPython's rp2 port mounts, and `python -m hil emulated`'s errors.
No emulator runs here."""

import hashlib

import pytest

from hil import emulated_board, pico_image
from hil.pico_image import Unavailable, filesystem_image, find_rom, find_uf2, read_file


def test_missing_uf2_names_where_to_get_it(tmp_path, monkeypatch):
    """No UF2 given and none beside the repository: the reason names the download and the board."""
    monkeypatch.delenv("PICO_UF2", raising=False)
    monkeypatch.setattr(pico_image, "SHARED", tmp_path)
    with pytest.raises(Unavailable, match=r"RPI_PICO, v1\.28\.x.*--uf2 PATH or set PICO_UF2"):
        find_uf2()


def test_a_named_uf2_is_taken_as_given_but_must_exist(tmp_path, monkeypatch):
    """--uf2 or PICO_UF2 may be any official download; a path that is not there is refused by name."""
    uf2 = tmp_path / "RPI_PICO-20260101-v1.28.1.uf2"
    uf2.write_bytes(b"\0" * 512)
    monkeypatch.setenv("PICO_UF2", str(uf2))
    assert find_uf2() == uf2
    with pytest.raises(Unavailable, match="no MicroPython UF2 at /no/such.uf2"):
        find_uf2("/no/such.uf2")


def test_files_beside_the_repository_must_match_the_committed_checksums(tmp_path, monkeypatch):
    """A UF2 or ROM in the shared folder whose SHA256 differs from boards/RPI_PICO/emulator.sha256 is refused."""
    monkeypatch.delenv("PICO_UF2", raising=False)
    monkeypatch.delenv("PICO_BOOTROM", raising=False)
    monkeypatch.setattr(pico_image, "SHARED", tmp_path)
    (tmp_path / pico_image.UF2_NAME).write_bytes(b"not the firmware")
    (tmp_path / pico_image.ROM_NAME).write_bytes(b"\0" * 16384)
    with pytest.raises(Unavailable, match="SHA256 .* is not the micropython-v1.28.0-RPI_PICO.uf2"):
        find_uf2()
    with pytest.raises(Unavailable, match="SHA256 .* is not the rp2040-bootrom-b1.bin"):
        find_rom()
    sums = pico_image.known_checksums()
    assert sums[pico_image.ROM_NAME] != hashlib.sha256(b"\0" * 16384).hexdigest()


def test_filesystem_image_holds_the_tree_and_the_replacements(tmp_path):
    """The image is the rp2 port's littlefs region (352 x 4 KiB) and reads back file by file."""
    (tmp_path / "firmware" / "data").mkdir(parents=True)
    (tmp_path / "main.py").write_bytes(b"import pump\n")
    (tmp_path / "firmware" / "data" / "a.json").write_bytes(b"{}")
    image = filesystem_image(tmp_path, {"main.py": b"print(1)\n", "probe.json": b"[1]"})
    assert len(image) == pico_image.FS_BLOCKS * pico_image.FS_BLOCK_BYTES == 1408 * 1024
    assert read_file(image, "main.py") == b"print(1)\n"
    assert read_file(image, "firmware/data/a.json") == b"{}"
    assert read_file(image, "probe.json") == b"[1]"


def test_cli_refuses_bad_input_with_exit_2(capsys, tmp_path):
    """A negative speed or a UF2 that is not there: one error line, exit code 2, nothing started."""
    assert emulated_board.main(["--speed", "-1"]) == 2
    assert "--speed -1.0: allowed 0 (as fast as possible) or more" in capsys.readouterr().err
    assert emulated_board.main(["--uf2", str(tmp_path / "none.uf2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no MicroPython UF2 at") and "Traceback" not in err


def test_cli_refuses_a_file_that_is_not_a_uf2(capsys, tmp_path):
    """A --uf2 that is not a UF2 is refused by the chip's loader, by name and byte offset, exit 2."""
    from hil.emulated_pico import emulator_installed

    try:
        pico_image.find_rom()
    except Unavailable as e:
        pytest.skip(str(e))
    if not emulator_installed():
        pytest.skip("no RP2040 emulator: run `make setup`")
    bad = tmp_path / "firmware.uf2"
    bad.write_bytes(b"\xff" * 1024)
    assert emulated_board.main(["--uf2", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: block at byte 0 is not a UF2 block" in err and "Traceback" not in err
