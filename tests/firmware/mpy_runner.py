"""Runs one firmware test module inside the MicroPython interpreter and reports each test.

Usage (from the repository root): micropython tests/firmware/mpy_runner.py tests.firmware.test_x
Prints one line per test: "@@RESULT <json>" with name, outcome (passed/failed/skipped), detail.
"""

import io
import json
import sys

sys.path.insert(0, ".")


def _import(dotted):
    mod = __import__(dotted)
    for part in dotted.split(".")[1:]:
        mod = getattr(mod, part)
    return mod


def _report(name, outcome, detail=""):
    print("@@RESULT " + json.dumps({"name": name, "outcome": outcome, "detail": detail}))


def main():
    from tests.firmware.checks import Skipped

    mod = _import(sys.argv[1])
    wanted = sys.argv[2:]
    for name in sorted(dir(mod)):
        if not name.startswith("test_") or (wanted and name not in wanted):
            continue
        try:
            getattr(mod, name)()
        except Skipped as e:
            _report(name, "skipped", str(e))
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            buf = io.StringIO()
            sys.print_exception(e, buf)  # type: ignore[attr-defined]
            _report(name, "failed", buf.getvalue())
        else:
            _report(name, "passed")


main()
