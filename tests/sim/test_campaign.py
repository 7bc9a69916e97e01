"""Campaigns: the same rows on one process or a Dask cluster, resumed after a kill, specs
checked, and the population's PK spread as the spec says."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sim import campaign, campaign_spec
from sim.patient import PK_ETAS, profiles_at
from sim.pk import PKModel
from sim.scenario import SCENARIO_DIR

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = 20

# Short sessions (4 simulated min) so twenty patients take seconds, with faults that fire in them.
SPEC = f"""
name = "test_campaign"
base = "{SCENARIO_DIR / 'standard.toml'}"
set = ["run.end_min=4", "run.sample_s=10"]
runtime = "cpython"

[population]
size = {PATIENTS}
seed = 11

[prescription]
rule = "grid"
dose_mg_kg = [0.25, 0.5, 0.75]

[[faults]]
action = "occlude"
probability = 0.4
at_min = {{uniform = [1.5, 2.0]}}
undo_after_min = 1.5

[[faults]]
action = "power_loss"
probability = 0.2
at_min = {{uniform = [1.5, 3.5]}}
params = {{off_s = 20}}
"""


def write_spec(tmp_path, text=SPEC, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    return write_spec(tmp_path_factory.mktemp("spec"))


@pytest.fixture(scope="module")
def in_process_rows(spec_path, tmp_path_factory):
    """The campaign run in this process (the reference the other runs must equal)."""
    out = tmp_path_factory.mktemp("one_process")
    return campaign.run(campaign_spec.load(spec_path), out, workers=0), out


def test_in_process_campaign_writes_every_patient(in_process_rows):
    rows, out = in_process_rows
    assert [r["index"] for r in rows] == list(range(PATIENTS))
    assert pq.read_table(out / "patients.parquet").to_pylist() == rows
    assert (out / "patients.csv").read_text().count("\n") == PATIENTS + 1
    report = (out / "report.html").read_text()
    assert "data:image/png;base64," in report and "python -m sim run" in report
    # The faults were drawn and acted on: some patients were occluded and the pump alarmed.
    occluded = [r for r in rows if r["occlude_at_min"] is not None]
    assert occluded and any(r["occlude_time_to_alarm_s"] is not None for r in occluded)
    assert len({r["dose_mg_kg"] for r in rows}) == 3


def test_two_worker_local_cluster_gives_the_same_rows(spec_path, in_process_rows, tmp_path):
    """Each patient is seeded from (campaign seed, index): where it runs changes nothing."""
    rows, out = in_process_rows
    spread = campaign.run(campaign_spec.load(spec_path), tmp_path, workers=2)
    assert spread == rows
    assert pq.read_table(tmp_path / "patients.parquet").equals(pq.read_table(out / "patients.parquet"))


def test_killed_campaign_resumes_to_the_identical_result(spec_path, in_process_rows, tmp_path):
    """Kill the command mid-campaign, tear its last line, resume: the same table as a clean run."""
    rows, out = in_process_rows
    proc = subprocess.Popen([sys.executable, "-m", "sim", "campaign", str(spec_path), "--workers", "0",
                             "--out", str(tmp_path)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = tmp_path / campaign.RESULTS
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and results.read_text().count("\n") >= 5:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the campaign finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    written = results.read_text().count("\n")
    assert 5 <= written < PATIENTS
    with open(results, "a") as f:  # a write the kill cut short
        f.write('{"index": 19, "seed": 12')
    resumed = campaign.run(campaign_spec.load(spec_path), tmp_path, workers=0)
    assert resumed == rows
    assert pq.read_table(tmp_path / "patients.parquet").equals(pq.read_table(out / "patients.parquet"))
    assert results.read_text().count("\n") == PATIENTS  # nobody run twice


def test_results_of_another_spec_are_not_resumed(spec_path, in_process_rows, tmp_path):
    _, out = in_process_rows
    other = write_spec(tmp_path, SPEC.replace("seed = 11", "seed = 12"))
    with pytest.raises(campaign_spec.SpecError, match="another spec"):
        campaign.run(campaign_spec.load(other), out, workers=0)


def test_each_row_reruns_alone(in_process_rows, tmp_path):
    """The row's command, run alone, delivers the same volume and raises the same alarms."""
    rows, _ = in_process_rows
    r = next(r for r in rows if r["alarms"])
    cmd = r["command"].replace("python", sys.executable, 1) + f" --json --out {tmp_path}"
    done = subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=120)
    summary = json.loads(done.stdout)
    assert summary["delivered_volume_ml"] == r["delivered_volume_ml"]
    assert ";".join(f"{a['code']}@{a['t_min']:.3f}" for a in summary["alarms"]) == r["alarms"]


# -- the spec -----------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    (("size = 20", "size = 0"), "population.size = 0 is out of range: allowed 1..1000000"),
    (("probability = 0.4", "probability = 1.5"), "faults[0].probability = 1.5 is out of range: allowed 0..1"),
    (("action = \"occlude\"", "action = \"explode\""), "faults[0].action = 'explode' is not allowed: allowed one of occlude"),
    (("uniform = [1.5, 2.0]", "uniform = [2.0, 1.5]"), "must be [low, high] with low <= high"),
    (("uniform = [1.5, 2.0]", "uniform = [1.5, 9.0]"), "faults[0].at_min.uniform = 9.0 is out of range: allowed 0..4 min"),
    (("off_s = 20", "off_t = 20"), "power_loss takes no key 'off_t'"),
    (("rule = \"grid\"", "rule = \"random\""), "prescription.rule = 'random' is not allowed: allowed one of grid, library"),
    (("seed = 11", "seed = 11\nbogus = 1"), "unknown key population.bogus"),
    (("runtime = \"cpython\"", "runtime = \"java\""), "runtime = 'java' is not allowed: allowed one of micropython, cpython"),
    (("[prescription]", "[population.table.weight_kg]\nsd = -1\n[prescription]"), "population.table.weight_kg.sd = -1"),
    (("[prescription]", "[population.table.pk_variability.correlation]\ncl_v1 = 1.5\n[prescription]"),
     "is not a valid covariance"),
    (("[prescription]", "[population.table.height]\nmean = 1\n[prescription]"), "unknown key population.table.height"),
])
def test_bad_spec_values_are_refused_by_key(tmp_path, change, message):
    path = write_spec(tmp_path, SPEC.replace(change[0], change[1], 1))
    with pytest.raises(campaign_spec.SpecError) as e:
        campaign_spec.load(path)
    assert message in str(e.value)


def test_bad_spec_exits_2_without_traceback_and_writes_nothing(tmp_path):
    path = write_spec(tmp_path, SPEC.replace("probability = 0.4", "probability = -0.1"))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "sim", "campaign", str(path), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "faults[0].probability = -0.1 is out of range: allowed 0..1" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


# -- the population's PK spread -------------------------------------------------------------
PK_SPEC = SPEC.replace("[prescription]", """[population.table.pk_variability]
omega = {cl = 0.25, v1 = 0.3, v2 = 0.2, v3 = 0.2}
correlation = {cl_v1 = 0.5}
[prescription]""")


@pytest.mark.parametrize("allometric", [False, True])
def test_population_cp_spread_matches_the_spec(tmp_path, allometric):
    """At steady state Cp = rate / CL, so with a per-kg rate log Cp = const - eta_cl (+ 0.25 log(W/70)
    with allometric clearance): its mean and SD must be the spec's, within what n patients allow
    (4 standard errors: mean omega/sqrt(n), SD omega/sqrt(2(n-1)))."""
    text = PK_SPEC if not allometric else PK_SPEC.replace("correlation =", "allometric_clearance = true\ncorrelation =")
    spec = campaign_spec.load(write_spec(tmp_path, text))
    n, omega = 400, spec.table["pk_variability"]["omega"]["cl"]
    profiles = profiles_at(range(n), spec.seed, None, spec.table)
    log_cp = []
    for p in profiles:
        pk = PKModel.from_name(p.pk_model, p.weight_kg, p.pk_individual)
        pk.advance(100000.0, 0.5 * 1000.0 * p.weight_kg / 40.0)  # 0.5 mg/kg per 40 min, to steady state
        log_cp.append(math.log(pk.cp_ng_ml) - (0.25 * math.log(p.weight_kg / 70.0) if allometric else 0.0))
    typical = PKModel.from_name("clements", 70.0)
    typical.advance(100000.0, 0.5 * 1000.0 * 70.0 / 40.0)
    log_cp = np.array(log_cp)
    assert abs(log_cp.mean() - math.log(typical.cp_ng_ml)) < 4 * omega / math.sqrt(n)
    assert abs(log_cp.std(ddof=1) - omega) < 4 * omega / math.sqrt(2 * (n - 1))
    # The correlation of clearance and V1 (Fisher's z has SD 1/sqrt(n - 3)).
    etas = np.array([[getattr(p.pk_individual, f"eta_{k}") for k in PK_ETAS] for p in profiles])
    r = np.corrcoef(etas[:, 0], etas[:, 1])[0, 1]
    assert abs(math.atanh(r) - math.atanh(0.5)) < 4 / math.sqrt(n - 3)
