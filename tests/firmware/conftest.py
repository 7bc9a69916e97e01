"""Every firmware test runs twice: under CPython (the ordinary pytest items) and inside the real
MicroPython interpreter (items named `...[micropython]`, one per test function).

The MicroPython run imports the same test module with the same firmware files, so a firmware
module that uses something MicroPython lacks fails the suite. Each module runs once per session
in one interpreter process; its per-test results are then reported item by item.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MICROPYTHON = Path(sys.executable).parent / "micropython"
MODULE_TIMEOUT_S = 600


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix == ".py" and file_path.name.startswith("test_"):
        return MicroPythonModule.from_parent(parent, path=file_path, name=file_path.name + "[micropython]")
    return None


def _test_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


class MicroPythonModule(pytest.File):
    def collect(self):
        self.results: dict[str, dict] | None = None
        for name in _test_names(self.path):
            yield MicroPythonItem.from_parent(self, name=name + "[micropython]", test_name=name)

    def module_results(self) -> dict[str, dict]:
        if self.results is None:
            dotted = ".".join(self.path.relative_to(ROOT).with_suffix("").parts)
            proc = subprocess.run(
                [str(MICROPYTHON), "tests/firmware/mpy_runner.py", dotted],
                cwd=ROOT, capture_output=True, text=True, timeout=MODULE_TIMEOUT_S,
            )
            results = {}
            for line in proc.stdout.splitlines():
                if line.startswith("@@RESULT "):
                    r = json.loads(line[len("@@RESULT "):])
                    results[r["name"]] = r
            results["__output__"] = {"stdout": proc.stdout, "stderr": proc.stderr, "rc": proc.returncode}
            self.results = results
        return self.results


class MicroPythonFailure(Exception):
    pass


class MicroPythonItem(pytest.Item):
    def __init__(self, *, test_name: str, **kwargs):
        super().__init__(**kwargs)
        self.test_name = test_name

    def runtest(self):
        parent = self.parent
        assert isinstance(parent, MicroPythonModule)
        results = parent.module_results()
        r = results.get(self.test_name)
        if r is None:
            out = results["__output__"]
            raise MicroPythonFailure(
                "micropython did not report %s (exit %s)\n--- stdout\n%s\n--- stderr\n%s"
                % (self.test_name, out["rc"], out["stdout"][-3000:], out["stderr"][-3000:])
            )
        if r["outcome"] == "skipped":
            pytest.skip(r["detail"])
        if r["outcome"] == "failed":
            raise MicroPythonFailure(r["detail"])

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "under micropython:\n" + str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, 0, self.name
