"""tools.typecheck: pyright over the firmware with each board's stubs and over the host code with
CPython finds no errors, and each run really uses the library it claims to."""

import pytest

from tools import typecheck


def _probe_run(run: typecheck.Run, source: str, folder) -> dict:
    probe = folder / "probe.py"
    probe.write_text(source)
    config = dict(run.config, include=[str(probe)], exclude=[])
    return typecheck.run_pyright(typecheck.Run(run.name + "-probe", run.label, config))


def _errors(report: dict) -> int:
    return report["summary"]["errorCount"]


@pytest.mark.parametrize("run", typecheck.runs(), ids=lambda r: r.name)
def test_no_type_errors(run):
    """Zero pyright errors in this run; the list of them is the failure message."""
    assert not typecheck.missing_stubs(run), typecheck.missing_stubs(run)
    report = typecheck.run_pyright(run)
    print(typecheck.summary_line(run, report))
    assert report["summary"]["filesAnalyzed"] > 0
    errors = typecheck.error_lines(report)
    assert not errors, "%s\n%s" % (typecheck.summary_line(run, report), "\n".join(errors))


def test_each_run_checks_against_its_own_library(tmp_path):
    """time.ticks_ms passes the board runs and fails CPython; rp2 passes only the rp2 run."""
    rp2_run, esp32_run, host_run = typecheck.runs()
    ticks = "import time\nt: int = time.ticks_diff(time.ticks_ms(), 0)\n"
    assert _errors(_probe_run(rp2_run, ticks, tmp_path)) == 0
    assert _errors(_probe_run(host_run, ticks, tmp_path)) > 0
    pio = "import rp2\nsm = rp2.StateMachine(0)\nsm.put(1)\n"
    assert _errors(_probe_run(rp2_run, pio, tmp_path)) == 0
    assert _errors(_probe_run(esp32_run, pio, tmp_path)) > 0


def test_summary_line_counts_what_pyright_reported():
    """One line per run: label, errors, warnings, files."""
    report = {"summary": {"errorCount": 2, "warningCount": 1, "filesAnalyzed": 30}}
    assert typecheck.summary_line(typecheck.runs()[0], report) == "rp2 firmware: 2 errors, 1 warnings in 30 files"
