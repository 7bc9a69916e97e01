"""The HIL report as an auditor reads it: its content, its folders, and the page in a real browser.

The browser cases run the acceptance suite for real (on the virtual board, or through the
real-bench path on a virtual board's pty), open the report in headless Chromium over the
DevTools protocol (tests/hil/chromium.py) and check what a person would see: the verdict, every
test's row, the failure with its serial-log tail, the skip with its reason, plots that decoded,
links that lead to files, and no console error. The screenshots stay in the test's tmp folder.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil.report import HilReport, Measurement, verdict
from sim.bus import ROOT
from tests.hil.chromium import INSTALL_HINT, Chromium, find_chromium

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason=f"no headless browser: {INSTALL_HINT}")

PAGE_FACTS = """JSON.stringify((() => {
  const shown = el => { if (!el) return false; const r = el.getBoundingClientRect(), s = getComputedStyle(el);
                        return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const v = document.getElementById('verdict');
  return {
    verdict: v && v.textContent, verdictShown: shown(v), counts: document.getElementById('counts').textContent,
    rows: [...document.querySelectorAll('#tests tr.test')].map(r => ({
      name: r.cells[0].querySelector("a").textContent, outcome: r.dataset.outcome, shown: shown(r), measured: r.cells[4].textContent})),
    images: [...document.images].map(i => ({src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    failures: [...document.querySelectorAll('pre.failure')].map(p => ({text: p.textContent, shown: shown(p)})),
    tails: [...document.querySelectorAll('pre.log-tail')].map(p => ({text: p.textContent, shown: shown(p)})),
    external: [...document.querySelectorAll('[src],link[href],script')].filter(
      e => /^(https?:)?\\/\\//.test(e.getAttribute('src') || e.getAttribute('href') || '') || e.tagName === 'SCRIPT').length,
  };
})())"""


def _junit_cases(run: Path) -> list[ET.Element]:
    return list(ET.parse(run / "junit.xml").iter("testcase"))


def _look(run: Path, shot: Path) -> dict:
    """Open the run's page in Chromium; the facts a person would see, the errors, a screenshot."""
    import json

    with Chromium.start() as browser:
        page = browser.open(run / "index.html")
        facts = json.loads(page.evaluate(PAGE_FACTS))
        page.screenshot(shot)
        facts["errors"] = page.errors
    for href in facts["links"]:
        if not href.startswith("#"):
            assert (run / href).is_file(), f"link {href} leads nowhere"
    return facts


def _hil_run(args: list[str], root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hil", "run", "--report", str(root), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


# The page's content, without a browser ------------------------------------------------------------


def test_verdict_needs_every_test_to_pass():
    """PASS only when nothing failed and something passed; a run of skips alone is INCOMPLETE."""
    from hil.report import TestRecord

    assert verdict([TestRecord("a", outcome="passed"), TestRecord("b", outcome="skipped")]) == "PASS"
    assert verdict([TestRecord("a", outcome="passed"), TestRecord("b", outcome="error")]) == "FAIL"
    assert verdict([TestRecord("a", outcome="skipped")]) == "INCOMPLETE"
    assert verdict([TestRecord("a", outcome="passed"), TestRecord("b")]) == "INCOMPLETE"  # one never ran
    assert verdict([]) == "INCOMPLETE"


def test_text_from_tests_and_pumps_is_escaped(tmp_path):
    """A failure message, a property or a title holding markup shows as text, never as markup."""
    report = HilReport(tmp_path)
    report.current_test = "hil/acceptance/test_x.py::test_<b>"
    record = report.record(report.current_test)
    record.outcome, record.message, record.checks = "failed", "got <script>alert(1)</script> & more", "a <i>check</i>"
    report.measure("error <pct>", 3.0, "%", -2, 2, "source <a href=x>")
    report.add("title <img src=x onerror=alert(1)>", "text <b>")
    page = report.write({"operator": "<script>bad()</script>"}).read_text()
    assert "<script>" not in page and "<img src=x" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page and "&lt;script&gt;bad()&lt;/script&gt;" in page


def test_measurement_limits_and_outcome():
    """A value outside its limits is not ok; the tolerance says the limits and their source."""
    inside = Measurement("delivered volume error", -1.9, "%", -2.0, 2.0, "commercial pumps")
    outside = Measurement("occlusion time to alarm", 301.0, "s", None, 300.0)
    assert inside.ok and not outside.ok
    assert inside.tolerance() == "-2 .. +2 % (commercial pumps)" and outside.tolerance() == "<= 300 s"


def test_each_run_writes_a_fresh_folder_and_latest_follows(tmp_path):
    """Two runs under one root: two folders, `latest` at the second, nothing of the first in it."""
    first = HilReport(tmp_path, clock=lambda: 1_800_000_000.0)
    first.current_test = "t1"
    first.record("t1").outcome = "passed"
    first.measure("q", 1.0, "%", -2, 2)
    first.write({})
    second = HilReport(tmp_path, clock=lambda: 1_800_000_000.0)  # the same second: another folder all the same
    second.record("t2").outcome = "passed"
    second.write({})
    assert first.folder != second.folder and first.folder.parent == second.folder.parent == tmp_path
    assert (tmp_path / "latest").resolve() == second.folder.resolve()
    assert (first.folder / "summary_q.png").exists() and not (second.folder / "summary_q.png").exists()
    assert first.folder.name == "20270115T080000Z" and second.folder.name == "20270115T080000Z-2"


@needs_chromium
def test_the_browser_check_sees_a_broken_page(tmp_path):
    """The checks can fail: a missing image and a console error are both caught."""
    (tmp_path / "index.html").write_text("<!doctype html><title>t</title><img src='missing.png'>"
                                         "<script>console.error('report broken')</script>")
    with Chromium.start() as browser:
        page = browser.open(tmp_path / "index.html")
        widths = page.evaluate("[...document.images].map(i => i.naturalWidth)")
        errors = page.errors
    assert widths == [0]
    assert any("report broken" in e for e in errors) and any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in errors)


# A whole run, in the browser ------------------------------------------------------------------------

PASSING_SELECTION = "prescriptions or (delivered_volume and 70-0.5-10-40) or (occlusion and 5mlh) or syringe_empty"


@needs_chromium
def test_a_passing_run_reads_right_in_a_browser(tmp_path):
    """Verdict PASS and counts on top, one visible row per test run (as many as the JUnit XML has),
    measured values against their limits, plots decoded, every link to a file, no console error."""
    out = _hil_run(["-k", PASSING_SELECTION, "--operator-name", "Q. A. Tester"], tmp_path)
    assert out.returncode == 0, out.stdout[-3000:]
    run = (tmp_path / "latest").resolve()
    facts = _look(run, tmp_path / "passing.png")
    assert facts["errors"] == [] and facts["external"] == 0
    assert facts["verdict"] == "PASS" and facts["verdictShown"]
    cases = _junit_cases(run)
    assert len(facts["rows"]) == len(cases) == 7 and all(r["shown"] and r["outcome"] == "passed" for r in facts["rows"])
    assert facts["counts"] == "7 tests: 0 failed, 0 error, 7 passed, 0 skipped"
    assert facts["images"] and all(i["complete"] and i["width"] > 0 for i in facts["images"])
    logs = [h for h in facts["links"] if h.startswith("logs/")]
    assert sorted(set(logs)) == sorted(f"logs/{p.name}" for p in (run / "logs").glob("*.log"))  # every log linked
    assert len(logs) == 7 + 1 and logs[-1] == "logs/identify_the_pump.log"  # one per test, and the identification
    page = (run / "index.html").read_text()
    assert "Q. A. Tester" in page and "balance serial" in page and "occlusion setting" in page
    delivery = next(r for r in facts["rows"] if "delivered_volume" in r["name"])
    assert re.search(r"delivered volume error = -?\d", delivery["measured"])
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \+\d+\.\d{3} [<>] ")
    lines = [ln for ln in (run / logs[0]).read_text().splitlines() if not ln.startswith("#")]
    assert lines and all(stamp.match(ln) for ln in lines), lines[:3]
    props = {p.get("name"): p.get("value") for p in next(c for c in cases if "delivered" in c.get("name", "")).iter("property")}
    assert props["tolerance delivered volume error"].startswith("-2 .. +2 %") and "measured delivered volume error" in props


@needs_chromium
def test_a_failing_run_shows_the_failure_its_log_and_the_skip(tmp_path):
    """Through the real-bench path (a virtual board on a pty) with the harness prescribing from a
    vial ten times too strong: the hard-limit case fails (the pump refuses the concentration
    instead), the syringe-empty case is skipped (no hands on a bench), the wrong-syringe case
    passes. The page says FAIL, shows the failure with its serial-log tail, and the skip's reason."""
    from hil.bench import VirtualBench

    bench = VirtualBench()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "hil/acceptance", "-p", "tests.hil.wrong_vial", "-p", "no:cacheprovider",
             "--pump-port", bench.pump_url, "--balance-port", bench.balance_url, "--hil-report", str(tmp_path),
             "--junitxml", str(tmp_path / "junit.xml"), "-k", "hard_limit or syringe_empty or wrong_syringe", "-q"],
            cwd=ROOT, capture_output=True, text=True, timeout=600)
    finally:
        bench.close()
    assert out.returncode == 1, out.stdout[-3000:]
    run = (tmp_path / "latest").resolve()
    (run / "junit.xml").write_bytes((tmp_path / "junit.xml").read_bytes())
    facts = _look(run, tmp_path / "failing.png")
    assert facts["errors"] == [] and facts["verdict"] == "FAIL" and facts["verdictShown"]
    outcomes = {r["name"]: r["outcome"] for r in facts["rows"] if r["shown"]}
    assert outcomes == {"test_hard_limit_is_refused": "failed", "test_syringe_empty": "skipped",
                        "test_wrong_syringe_is_refused": "passed"}
    assert facts["counts"] == "3 tests: 1 failed, 0 error, 1 passed, 1 skipped"
    [failure], [tail] = facts["failures"], facts["tails"]
    assert failure["shown"] and "UNKNOWN_CONCENTRATION" in failure["text"]
    assert tail["shown"] and "ERR UNKNOWN_CONCENTRATION" in tail["text"]
    skipped = next(r for r in facts["rows"] if r["outcome"] == "skipped")
    assert "needs hands on the bench" in skipped["measured"]
    assert "real (" in (run / "index.html").read_text()


def test_occlusion_figures_agree_between_the_simulator_and_the_hil_report(tmp_path):
    """The same syringe (plant seed 100: the simulator's first session at seed 1) occluded at
    5.25 mL/h: the HIL report's time to alarm matches the simulator's, and the pump's pressure
    rise to the alarm matches the line pressure the simulator prints. (Timing the alarm by
    polling STATUS read 197 s here, against the simulator's 81 s.)"""
    import json

    from sim import report, runner
    from sim import scenario as scn

    sim = report.summary(runner.run(scn.load(scn.SCENARIO_DIR / "occlusion_5mlh.toml"), runtime="micropython"), {})
    out = _hil_run(["-k", "occlusion and 5mlh", "--seed", "100"], tmp_path)
    assert out.returncode == 0, out.stdout[-3000:]
    facts = json.loads((tmp_path / "latest" / "report.json").read_text())
    [row] = [r for e in facts["entries"] for r in e["rows"] if "time_to_alarm_s" in r]
    assert "plant seed 100" in sim["fault_setup"]
    assert abs(row["time_to_alarm_s"] - sim["time_to_alarm_s"]) <= 5.0, (row, sim["time_to_alarm_s"])
    assert abs(row["pressure_rise_to_alarm_mmhg"] - sim["alarm_pressure_mmhg"]) <= 6.0, (row, sim["alarm_pressure_mmhg"])
