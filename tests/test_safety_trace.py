"""docs/safety.md traces each requirement to the tests that show it: every test, file and
scenario its table cites must exist, or the safety argument points at nothing.

A citation is a backticked token in the table's last column: `path::name` (the name may be a
glob such as `test_occlusion_*`), a path to a file or folder, or a bare function name, which
belongs to the file cited before it in the same cell (anywhere in the test trees when none is).
"""

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAFETY_MD = ROOT / "docs" / "safety.md"
TEST_TREES = ("tests", "hil/acceptance")


def _functions(path: Path) -> set[str]:
    """Every function and method defined in a Python file."""
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _all_test_functions() -> set[str]:
    names: set[str] = set()
    for tree in TEST_TREES:
        for path in (ROOT / tree).rglob("*.py"):
            names |= _functions(path)
    return names


def _citation_cells(text: str) -> list[tuple[str, str]]:
    """(requirement, tests cell) of every row of the trace table (the one headed "requirement")."""
    rows = []
    in_table = False
    for line in text.splitlines():
        if not line.startswith("|"):
            if in_table:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if cells[0] == "requirement":
            in_table = True
        elif in_table and not line.startswith("|---"):
            assert len(cells) == 3, line
            rows.append((cells[0], cells[2]))
    return rows


def _broken_citations(requirement: str, cell: str, everywhere: set[str]) -> list[str]:
    broken = []
    current = None  # the file the cell cited last: a bare name belongs to it
    for token in re.findall(r"`([^`]+)`", cell):
        if " " in token:
            continue  # a command (`make bench`), not a name
        path_text, _, name = token.partition("::")
        if "/" in path_text or "::" in token:
            path = ROOT / path_text
            if not path.exists():
                broken.append("%s: %s does not exist" % (requirement, path_text))
                continue
            current = path if path.suffix == ".py" else None
            if not name:
                continue
        else:
            name = token
        defined = _functions(current) if current is not None else everywhere
        if not fnmatch.filter(sorted(defined), name):
            where = current.relative_to(ROOT) if current is not None else " or ".join(TEST_TREES)
            broken.append("%s: no function %s in %s" % (requirement, name, where))
    return broken


def test_every_cited_test_exists():
    """Each test name, file and scenario docs/safety.md cites is in the repository."""
    rows = _citation_cells(SAFETY_MD.read_text())
    assert len(rows) >= 20  # the table was found and read
    everywhere = _all_test_functions()
    broken = []
    for requirement, cell in rows:
        broken += _broken_citations(requirement, cell, everywhere)
    assert broken == [], "\n".join(broken)


def test_a_missing_test_name_is_reported():
    """The check itself: a cited name that is defined nowhere is reported with its row."""
    everywhere = _all_test_functions()
    cell = "`tests/firmware/test_controller.py::test_no_such_test`, `test_watchdog_fed_every_tick`, `sim/scenarios/none.toml`"
    assert _broken_citations("Watchdog", cell, everywhere) == [
        "Watchdog: no function test_no_such_test in tests/firmware/test_controller.py",
        "Watchdog: sim/scenarios/none.toml does not exist",
    ]
