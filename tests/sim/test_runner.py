"""End-to-end simulation runs: firmware + plant + patient, in both runtimes."""

import csv
import json
import subprocess
import sys

import pytest

from sim import report, runner
from sim import scenario as scn
from sim.bus import ROOT

SCENARIOS = scn.SCENARIO_DIR


def _run(name, runtime="cpython", overrides=(), seed=None):
    return runner.run(scn.load(SCENARIOS / f"{name}.toml", list(overrides)), runtime=runtime, seed=seed)


@pytest.fixture(scope="module")
def standard_runs():
    return {rt: _run("standard", rt) for rt in ("cpython", "micropython")}


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_standard_delivers_the_prescribed_volume(standard_runs, runtime, tmp_path):
    """0.5 mg/kg x 70 kg at 10 mg/mL: 3.5 mL reaches the patient, within 0.5 %, and the pump completes."""
    r = standard_runs[runtime]
    s = report.summary(r, {})
    assert s["end_state"] == "complete" and s["alarms"] == []
    assert abs(r.delivered_ml - 3.5) / 3.5 < 0.005
    assert s["pump_reported_volume_ml"] == pytest.approx(3.5, abs=0.001)
    assert runtime in s["firmware_runtime"]


def test_both_runtimes_give_the_same_counted_steps(standard_runs):
    """MicroPython and CPython firmware: identical steps, states and deliveries at every sample."""
    a, b = standard_runs["cpython"], standard_runs["micropython"]
    assert a.final_status["steps"] == b.final_status["steps"] == a.final_status["total_steps"]
    assert [(x.steps, x.state) for x in a.samples] == [(x.steps, x.state) for x in b.samples]
    assert [x.delivered_ml for x in a.samples] == [x.delivered_ml for x in b.samples]


def test_seeded_runs_are_reproducible():
    """The same seed gives the same run; another seed gives another syringe and noise."""
    a = _run("standard", overrides=["run.end_min=45"], seed=3)
    b = _run("standard", overrides=["run.end_min=45"], seed=3)
    c = _run("standard", overrides=["run.end_min=45"], seed=4)
    assert a.samples == b.samples
    assert [x.force_n for x in a.samples] != [x.force_n for x in c.samples]


def test_pharmacokinetics_follow_the_delivery():
    """Cp peaks at the end of the 40 min infusion (after a 1 min start) and falls afterwards."""
    s = report.summary(_run("standard", overrides=["run.end_min=90"]), {})
    assert 40 <= s["t_cp_peak_min"] <= 42
    assert 100 < s["cp_peak_ng_ml"] < 250
    assert s["cp_end_infusion_ng_ml"] == pytest.approx(s["cp_peak_ng_ml"], rel=0.02)


@pytest.mark.parametrize("name", ["hard_limit", "wrong_syringe", "soft_limit_override", "low_dose", "diluted"])
def test_scenario_expectations_hold(name):
    """The scenario's own [expect] table is met (refusals refuse, overrides confirm, doses land)."""
    s = report.summary(_run(name), {})
    assert s["expectations"] and all(v["ok"] for v in s["expectations"].values()), s["expectations"]


def test_refused_prescription_delivers_nothing():
    """A hard-limit entry leaves the pump idle and the patient drug-free."""
    r = _run("hard_limit")
    assert r.delivered_ml < 1e-4 and max(x.cp_ng_ml for x in r.samples) < 0.01  # only the purge settling


def test_induction_course_runs_six_sessions():
    """Six sessions three days apart each deliver their dose; the drug washes out between them."""
    r = _run("induction_course", overrides=["run.end_min=45"])
    assert [x["result"] for x in r.sessions] == ["STARTED"] * 6
    assert all(abs(x["delivered_ml"] - 3.5) < 0.02 for x in r.sessions)
    starts = [x for x in r.samples if x.session == 5]
    assert starts[0].cp_ng_ml < 1.0  # three days after session 5 nothing is left


def test_outputs_are_written(tmp_path):
    """CSV, summary.json and figure.png appear with the documented summary keys."""
    r = _run("low_dose", overrides=["run.end_min=50"])
    s = report.write_outputs(r, tmp_path)
    keys = {"scenario", "seed", "firmware_runtime", "prescription", "prescribed_volume_ml", "prescribed_dose_mg",
            "delivered_volume_ml", "delivered_dose_mg", "volume_error_pct", "pump_reported_volume_ml", "end_state",
            "alarms", "cp_peak_ng_ml", "t_cp_peak_min", "cp_end_infusion_ng_ml", "ce_peak_ng_ml", "sbp_peak_mmhg",
            "hr_peak_bpm", "sim_duration_min", "wall_s", "realtime_factor", "outputs"}
    assert keys <= set(s)
    assert json.loads((tmp_path / "summary.json").read_text())["scenario"] == "low_dose"
    rows = list(csv.DictReader(open(tmp_path / "timeseries.csv")))
    assert len(rows) == 50 * 60 // 5 and float(rows[-1]["delivered_ml"]) == pytest.approx(0.7, rel=0.005)
    assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_line_json_and_errors(tmp_path):
    """`python -m sim run --json` prints the summary; a bad override exits 2 naming the key."""
    out = subprocess.run([sys.executable, "-m", "sim", "run", "sim/scenarios/hard_limit.toml", "--runtime", "cpython",
                          "--out", str(tmp_path), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["prescription_result"] == ["HARD_LIMIT"]
    bad = subprocess.run([sys.executable, "-m", "sim", "run", "sim/scenarios/standard.toml", "--set", "patient.wieght_kg=3"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "patient.wieght_kg" in bad.stderr and "weight_kg" in bad.stderr
