"""Reading the firmware's JSON data files (drug library, syringe table, board definition).

Data sits beside the code (`firmware/data/`, `boards/<NAME>/board.json`), found relative to
this file so it works from a board's flash, the unix port and CPython alike.
"""

import json

from firmware.errors import BAD_VALUE, Rejected


def _dirname(path: str) -> str:
    cut = path.rfind("/")
    return path[:cut] if cut > 0 else "."


FIRMWARE_DIR = _dirname(__file__)
DATA_DIR = FIRMWARE_DIR + "/data"


def load_json(path: str) -> dict:
    """Parse a JSON file; a missing or malformed file is a Rejected naming the path."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        raise Rejected(BAD_VALUE, "file", path, "an existing JSON file")
    except ValueError:
        raise Rejected(BAD_VALUE, "file", path, "valid JSON")


def data_path(name: str) -> str:
    return DATA_DIR + "/" + name


BUILD_FILE = "build.json"


def build_id() -> str:
    """The build hash tools/build.py stamped into data/build.json; 'source' when running from
    the source tree (the virtual board, the unix port), where the git commit identifies it."""
    try:
        return str(load_json(data_path(BUILD_FILE))["build"])
    except (Rejected, KeyError, TypeError):
        return "source"
