"""The host package installs with pip and works without the repository on its path.

A wheel is built from a copy of the sources (offline: --no-build-isolation, with the setuptools
pinned in requirements.txt), installed with --no-deps into a folder of its own, and used from
another folder with only that folder on PYTHONPATH: the console scripts, the pytest plugin by
its entry point, an acceptance run on the virtual board (whose firmware, data files and board
definitions come from the installed package), and the README's Python client example.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["firmware", "sim", "hil", "boards", "pyproject.toml", "README.md"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(site folder, environment, a working folder outside the repository)."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
                   check=True, capture_output=True, text=True, timeout=300)
    [wheel] = (tmp / "dist").glob("syringe_pump-*.whl")
    site = tmp / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = str(site)
    elsewhere = tmp / "bench-pc"
    elsewhere.mkdir()
    return site, env, elsewhere


def _run(args, installed, **kw) -> subprocess.CompletedProcess:
    _, env, elsewhere = installed
    return subprocess.run(args, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300, **kw)


def test_console_scripts(installed):
    """pump-hil and pump-sim are installed and answer --help from outside the repository."""
    site = installed[0]
    hil = _run([str(site / "bin" / "pump-hil"), "--help"], installed)
    assert hil.returncode == 0 and "accuracy" in hil.stdout and "run" in hil.stdout, hil.stderr
    sim = _run([str(site / "bin" / "pump-sim"), "list"], installed)
    assert sim.returncode == 0 and "occlusion_5mlh" in sim.stdout, sim.stderr


def test_the_package_data_is_installed(installed):
    """Every data file the code reads at run time: the firmware's, the harness's, the simulator's,
    the scenarios and the board definitions (a new data file is caught here, not on a bench PC)."""
    site = installed[0]
    wanted = [p.relative_to(ROOT) for folder in ("firmware/data", "sim/data", "hil/data", "sim/scenarios")
              for p in (ROOT / folder).iterdir() if p.is_file()] + [p.relative_to(ROOT) for p in ROOT.glob("boards/*/board.json")]
    assert len(wanted) > 10 and [str(rel) for rel in wanted if not (site / rel).is_file()] == []
    probe = "import hil, firmware; print(hil.__file__); print(firmware.__file__)"
    out = _run([sys.executable, "-c", probe], installed)
    assert all(line.startswith(str(site)) for line in out.stdout.split()), out.stdout


def test_the_pytest_plugin_loads_by_its_entry_point(installed):
    """pytest in a folder with no conftest.py knows the harness's options."""
    out = _run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], installed)
    assert out.returncode == 0 and "--pump-port" in out.stdout and "--hil-report" in out.stdout


def test_an_acceptance_run_from_the_installed_package(installed):
    """`pump-hil run` on the virtual board, from the installed files alone, writes its report."""
    site, _, elsewhere = installed
    out = _run([str(site / "bin" / "pump-hil"), "run", "-k", "hard_limit", "--report", "reports"], installed)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    page = (elsewhere / "reports" / "latest" / "index.html").read_text()
    assert ">PASS<" in page and "not a git checkout" in page


def test_the_readme_client_example_works_from_any_folder(installed):
    """The README's Python example, run as written against `pump-hil virtual` in real time (the
    vitals it reports must still be fresh when its START arrives)."""
    site = installed[0]
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```python\n(from hil.client import PumpClient.*?)```", readme, re.S).group(1)
    _, env, elsewhere = installed
    board = subprocess.Popen([str(site / "bin" / "pump-hil"), "virtual", "--speed", "1"], cwd=elsewhere, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = re.search(r"command link: (\S+)", board.stdout.readline()).group(1)
        code = example.replace("/dev/pts/N", port) + "    print('state', pump.status()['state'])\n"
        out = _run([sys.executable, "-c", code], installed)
    finally:
        board.terminate()
        board.wait(10)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith(("state running", "state complete"))
