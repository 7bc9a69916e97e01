"""Type-check the repository with pyright in three runs, each against the right library.

- firmware on the RP2040: firmware/ against micropython-rp2-stubs (typings/rp2, whose stdlib
  stubs replace CPython's), without the ESP32-only HAL;
- firmware on the ESP32: firmware/ against micropython-esp32-stubs (typings/esp32), without the
  RP2040-only HAL;
- host: hil/, sim/, tools/ and tests/ against CPython and the virtualenv's packages.

    python -m tools.typecheck            # make typecheck; exit status 1 if any run has errors
    rp2 firmware: 0 errors, 0 warnings in 27 files

Each run's pyrightconfig.json is written under build/typecheck/<run>/ and pyright (the PyPI
wheel with its bundled node) runs offline with JSON output, so no version check goes out.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TYPINGS = ROOT / "typings"
HOST_PATHS = ("hil", "sim", "tools", "tests")
TEST_RELAXED_RULES = ("reportOptionalMemberAccess", "reportOptionalSubscript", "reportOptionalOperand")
BOARD_ONLY = {
    "rp2": ("firmware/hal/esp32.py",),
    "esp32": ("firmware/hal/rp2.py", "firmware/hal/rp2_pio.py"),
}


class Run:
    """One pyright run: a name, a config and what it reports."""

    def __init__(self, name: str, label: str, config: dict) -> None:
        self.name = name
        self.label = label
        self.config = config


def firmware_run(board: str) -> Run:
    stubs = TYPINGS / board
    config = {
        "include": [str(ROOT / "firmware")],
        "exclude": [str(ROOT / p) for p in BOARD_ONLY[board]] + ["**/__pycache__"],
        "stubPath": str(stubs),
        "typeshedPath": str(stubs),
        "extraPaths": [str(ROOT)],
        "pythonPlatform": "Linux",
        "typeCheckingMode": "standard",
        "reportMissingModuleSource": "none",
    }
    return Run(board, "%s firmware" % board, config)


def host_run() -> Run:
    config = {
        "include": [str(ROOT / p) for p in HOST_PATHS if (ROOT / p).exists()],
        "exclude": ["**/__pycache__", str(ROOT / "tests/boards/fakes/pio_dsl.py")],
        "extraPaths": [str(ROOT)],
        "venvPath": str(ROOT),
        "venv": ".venv",
        "pythonVersion": "3.11",
        "typeCheckingMode": "standard",
        # A test reads attributes a step earlier made non-None (ctl.program after programming):
        # if one were None the test fails on the spot, so these rules add nothing there.
        "executionEnvironments": test_environments() + [{"root": str(ROOT), "extraPaths": [str(ROOT)]}],
    }
    return Run("host", "host (CPython)", config)


def test_environments() -> list[dict]:
    """One environment per tests/ folder: pyright puts an environment's root first on the import
    path, so a root of tests/ itself would make tests/firmware shadow the real firmware package."""
    folders = sorted(p for p in (ROOT / "tests").iterdir() if p.is_dir() and (p / "__init__.py").exists())
    relaxed = {rule: "none" for rule in TEST_RELAXED_RULES}
    return [dict(root=str(f), extraPaths=[str(ROOT)], **relaxed) for f in folders] + [dict(root=str(ROOT / "tests"), extraPaths=[str(ROOT)], **relaxed)]


def runs() -> list[Run]:
    return [firmware_run("rp2"), firmware_run("esp32"), host_run()]


def missing_stubs(run: Run) -> str:
    stub = run.config.get("typeshedPath")
    if stub and not (Path(stub) / "stdlib").is_dir():
        return "%s: stubs missing in %s; run `make setup` to install them" % (run.label, stub)
    return ""


PATH_KEYS = ("include", "exclude", "stubPath", "typeshedPath", "extraPaths", "venvPath")


def relative_to(config: dict, folder: Path) -> dict:
    """pyright reads the paths in a config file relative to the file's own folder."""

    def rel(p: str) -> str:
        return os.path.relpath(p, folder) if os.path.isabs(p) else p

    out = dict(config)
    for key in PATH_KEYS + ("root",):
        if key in out:
            out[key] = [rel(p) for p in out[key]] if isinstance(out[key], list) else rel(out[key])
    if "executionEnvironments" in out:
        out["executionEnvironments"] = [relative_to(env, folder) for env in out["executionEnvironments"]]
    return out


def run_pyright(run: Run) -> dict:
    folder = ROOT / "build" / "typecheck" / run.name
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "pyrightconfig.json"
    config_path.write_text(json.dumps(relative_to(run.config, folder), indent=2))
    env = dict(os.environ, PYRIGHT_PYTHON_IGNORE_WARNINGS="1")
    proc = subprocess.run([sys.executable, "-m", "pyright", "--outputjson", "-p", str(config_path)],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise SystemExit("%s: pyright gave no report (exit %d)\n%s" % (run.label, proc.returncode, proc.stderr[-2000:]))


def summary_line(run: Run, report: dict) -> str:
    s = report.get("summary", {})
    return "%s: %d errors, %d warnings in %d files" % (run.label, s.get("errorCount", 0), s.get("warningCount", 0), s.get("filesAnalyzed", 0))


def error_lines(report: dict) -> list[str]:
    out = []
    for d in report.get("generalDiagnostics", []):
        if d.get("severity") != "error":
            continue
        path = os.path.relpath(d.get("file", "?"), ROOT)
        line = d.get("range", {}).get("start", {}).get("line", 0) + 1
        rule = d.get("rule", "")
        out.append("  %s:%d: %s%s" % (path, line, d.get("message", "").splitlines()[0], " [%s]" % rule if rule else ""))
    return out


def main(argv: list[str]) -> int:
    wanted = set(argv) or {"rp2", "esp32", "host"}
    failed = False
    for run in runs():
        if run.name not in wanted:
            continue
        problem = missing_stubs(run)
        if problem:
            print(problem)
            failed = True
            continue
        report = run_pyright(run)
        print(summary_line(run, report))
        errors = error_lines(report)
        for line in errors:
            print(line)
        failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
