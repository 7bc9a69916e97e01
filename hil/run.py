"""`python -m hil run`: the acceptance suite for a QA tester.

    python -m hil run --port /dev/ttyACM0 [--balance /dev/ttyUSB0] [--board RPI_PICO]
                      [--operator | --fixture RIG.toml] [--report DIR] [--junitxml FILE] [--slow] [-k EXPR]

With no --port it starts a virtual board (the firmware in MicroPython, the simulated plant and
a simulated balance) and runs the same tests against it. On a bench, the steps that need hands
(load a syringe, close a clamp, cut the power) are prompted (--operator) or done by a rig
(--fixture, hil/procedure.py); with neither, the tests that need them are skipped. It runs
pytest on hil/acceptance/ with the harness's plugin; the report folder gets the JUnit XML, an
HTML page with the figures and the raw samples as CSV, and one serial log per test. A port that
is missing or busy, or a fixture file that does not hold, stops it first: one line, exit code 2.
Otherwise the exit code is pytest's (0 only if all passed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pytest

from hil import ports, procedure
from hil.report import new_run_folder

ACCEPTANCE = Path(__file__).resolve().parent / "acceptance"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil run", description="Run the acceptance suite against a pump.")
    ap.add_argument("--port", help="pump command link: /dev/ttyACM0, socket://host:port, ... (default: a virtual board)")
    ap.add_argument("--balance", help="lab balance port (MT-SICS); without it on a bench, gravimetric tests are skipped")
    ap.add_argument("--board", default=None, help="board name under boards/ (default: VIRTUAL, or the one the pump reports)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the virtual plant (default 1)")
    ap.add_argument("--runtime", choices=("micropython", "cpython"), default="micropython", help="virtual board firmware runtime")
    ap.add_argument("--report", default="out/hil", help="report root: each run writes REPORT/<UTC date-time>/ and "
                    "points REPORT/latest at it (default out/hil)")
    ap.add_argument("--operator-name", default="", help="who runs the bench, for the report")
    ap.add_argument("--balance-calibrated", default="", metavar="DATE", help="the balance's last calibration date, for the report")
    ap.add_argument("--junitxml", help="JUnit XML file (default: REPORT/junit.xml)")
    ap.add_argument("--slow", action="store_true", help="also run the slow IEC 60601-2-24 accuracy test (2 h per rate on a bench)")
    ap.add_argument("-k", dest="keyword", help="only tests matching this pytest -k expression")
    hands = ap.add_mutually_exclusive_group()
    hands.add_argument("--operator", action="store_true", help="on a bench: prompt for each step that needs hands")
    hands.add_argument("--fixture", help="on a bench: a TOML file of the rig's actions for those steps")
    args = ap.parse_args(argv)
    try:
        for role, option, port in (("pump", "--port", args.port), ("balance", "--balance", args.balance)):
            if port:
                ports.check_port(port, role, option)
        if args.fixture:
            procedure.FixtureProcedure(args.fixture)  # checked whole before any test runs
    except (ports.PortError, procedure.ProcedureError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if (args.operator or args.fixture) and not args.port:
        print("error: --operator and --fixture are for a bench (--port); the virtual board has its own hands",
              file=sys.stderr)
        return 2

    report = new_run_folder(Path(args.report), time.time())
    pytest_args = [str(ACCEPTANCE), "-p", "no:cacheprovider", "--hil-run-folder", str(report),
                   "--junitxml", args.junitxml or str(report / "junit.xml"), "--hil-seed", str(args.seed),
                   "--hil-operator", args.operator_name, "--balance-calibrated", args.balance_calibrated,
                   "--hil-runtime", args.runtime, "-o", "junit_family=xunit2", "-rs"]
    if args.port:
        pytest_args += ["--pump-port", args.port]
    if args.balance:
        pytest_args += ["--balance-port", args.balance]
    if args.operator:
        pytest_args += ["--bench-operator"]
    if args.fixture:
        pytest_args += ["--bench-fixture", args.fixture]
    if args.board:
        pytest_args += ["--board", args.board]
    pytest_args += ["-m", "slow or not slow"] if args.slow else []
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    code = pytest.main(pytest_args)
    if (report / "index.html").exists():
        print(f"report: {report / 'index.html'}; JUnit XML: {args.junitxml or report / 'junit.xml'}; serial logs: {report / 'logs'}")
    else:
        print(f"no report written (pytest exit code {int(code)})")
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
