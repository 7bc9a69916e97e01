"""`python -m hil run`: the tester's command, end to end (a small selection, to stay fast)."""

import subprocess
import sys
import xml.etree.ElementTree as ET

from hil.pty_link import PtyLink
from sim.bus import ROOT


def _run(args, tmp_path):
    return subprocess.run([sys.executable, "-m", "hil", "run", "--report", str(tmp_path), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_run_against_the_virtual_board_writes_the_report(tmp_path):
    """Without --port it runs on the virtual board; JUnit XML carries the suite properties."""
    out = _run(["-k", "prescriptions"], tmp_path)
    assert out.returncode == 0, out.stdout[-3000:]
    run = tmp_path / "latest"
    props = {p.get("name"): p.get("value") for p in ET.parse(run / "junit.xml").iterfind("testsuite/properties/property")}
    assert props["board"] == "VIRTUAL" and props["drug_library_version"].startswith("KET-")
    assert props["firmware_version"] and props["harness_version"] and props["seed"] == "1"
    assert props["firmware_build"].startswith("source (") and props["occlusion_setting"].startswith("medium: alarm at 500 mmHg")
    assert props["balance_serial"] == "SIM0000001" and props["balance_model"].startswith("SIM-")
    assert (run / "index.html").exists() and len(list((run / "logs").glob("*.log"))) == 4 + 1  # + identification
    assert f"report: {run.resolve() / 'index.html'};" in out.stdout


def test_run_against_a_silent_port_fails_and_says_where_the_log_is(tmp_path):
    """A port where no pump answers: non-zero exit, the error names what was sent and the log."""
    silent = PtyLink()
    try:
        out = _run(["--port", silent.path, "-k", "hard_limit"], tmp_path)
    finally:
        silent.close()
    assert out.returncode != 0
    assert "no valid answer to 'ID'" in out.stdout and silent.path in out.stdout
    page = (tmp_path / "latest" / "index.html").read_text()  # the report still says what happened
    assert ">FAIL<" in page and "1 test: 0 failed, 1 error" in page and "test_hard_limit_is_refused" in page
    assert "class='log-tail'>" in page and "&gt; ID" in page.split("class='log-tail'>", 1)[1]


def test_report_has_plots_and_raw_samples(tmp_path):
    """A delivery test leaves its summary plot and the measured rows as CSV in the report."""
    out = _run(["-k", "delivered_volume and 70-0.5-10"], tmp_path)
    assert out.returncode == 0, out.stdout[-3000:]
    run = tmp_path / "latest"
    assert (run / "summary_delivered_volume_error.png").read_bytes()[:4] == b"\x89PNG"
    rows = (run / "delivery.csv").read_text().splitlines()
    assert rows[0].startswith("case,prescribed_ml,weighed_ml,error_pct") and len(rows) == 2
    assert "summary_delivered_volume_error.png" in (run / "index.html").read_text()


def _one_line_error(out, port):
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and port in lines[0] and "serial ports on this machine" in lines[0], out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "report:" not in out.stdout and not out.stdout.strip()


def test_missing_port_is_one_line_and_exit_2(tmp_path):
    """A pump port that is not there: one line naming it and what exists, exit 2, no report claimed."""
    port = str(tmp_path / "ttyACM9")
    out = _run(["--port", port], tmp_path / "report")
    _one_line_error(out, port)
    assert "does not exist" in out.stderr and "--port" in out.stderr
    assert not (tmp_path / "report").exists()  # no run folder made, nothing claimed


def test_missing_balance_port_is_one_line_and_exit_2(tmp_path):
    """The same for --balance, checked before any test runs."""
    port = str(tmp_path / "ttyUSB7")
    out = _run(["--balance", port], tmp_path / "report")
    _one_line_error(out, port)
    assert "balance port" in out.stderr and "--balance" in out.stderr


def test_busy_port_is_one_line_and_exit_2(tmp_path):
    """A port another program holds locked (a serial monitor, mpremote): named, with what to close."""
    import serial

    held = PtyLink()
    holder = serial.Serial(held.path, exclusive=True)
    try:
        out = _run(["--port", held.path], tmp_path / "report")
    finally:
        holder.close()
        held.close()
    _one_line_error(out, held.path)
    assert "cannot be opened" in out.stderr and "holds it" in out.stderr
