"""Board definitions load and validate, naming the bad key."""

from firmware import errors
from firmware.board import Board
from firmware.datafile import load_json
from firmware.errors import Rejected
from tests.firmware.checks import raises
from tests.firmware.fixtures import BOARD_NAMES, board


def test_every_shipped_board_loads():
    """All board.json files pass validation and give a drive train."""
    for name in BOARD_NAMES:
        b = board(name)
        assert b.name == name and b.drive.usteps_per_rev >= 200


def _doc():
    return load_json("boards/VIRTUAL/board.json")


def test_bad_key_is_named():
    """An out-of-range microstep setting is refused with the key and range."""
    doc = _doc()
    doc["drive"]["microsteps"] = 0
    e = raises(Rejected, Board, doc)
    assert e.code == errors.BAD_BOARD and e.field == "drive.microsteps" and e.allowed == "1..256"


def test_missing_key_is_named():
    """A missing lead pitch is refused by name."""
    doc = _doc()
    del doc["drive"]["lead_pitch_um"]
    e = raises(Rejected, Board, doc)
    assert e.field == "drive.lead_pitch_um" and e.value == "missing"


def test_unknown_driver_is_refused():
    """Only drivers with known timing minima are accepted."""
    doc = _doc()
    doc["drive"]["driver"] = "L298"
    e = raises(Rejected, Board, doc)
    assert e.field == "drive.driver"


def test_missing_file_is_a_clear_error():
    """A board name with no board.json is refused naming the path."""
    e = raises(Rejected, Board.load, "NO_SUCH_BOARD")
    assert "NO_SUCH_BOARD" in str(e.value)
