"""Campaign throughput, and simglucose's patients per second per core measured in the same run.

simglucose (PyPI `simglucose`: a virtual type 1 diabetes patient, CGM, insulin pump and
controller; the usual open-source virtual-patient simulator) is the yardstick users compare
with. It is installed from bench/requirements.txt into its own environment (.venv-bench), never
as a project dependency, and measured there by bench/simglucose_cost.py. Per core is
CPU seconds of one process per patient, for both: one 120 min session each (the standard
scenario here; one adolescent with the basal-bolus controller there).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

from bench.results import Figure
from sim import campaign, campaign_spec
from sim.scenario import SCENARIO_DIR

ROOT = Path(__file__).resolve().parent.parent
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"  # bench/requirements.txt, installed by make bench
WORKERS = 2
TARGET_RATIO = 2.0

SPEC = """
name = "bench_campaign"
base = "{base}"
runtime = "cpython"
[population]
size = {size}
seed = 5
[prescription]
dose_mg_kg = [0.5]
"""


def _spec(directory: Path, size: int) -> campaign_spec.CampaignSpec:
    path = directory / "spec.toml"
    path.write_text(SPEC.format(base=SCENARIO_DIR / "standard.toml", size=size))
    return campaign_spec.load(path)


def _project_cpu_s_per_patient(n: int = 3) -> float:
    """CPU seconds per patient of the standard scenario, firmware in-process, one core."""
    with tempfile.TemporaryDirectory() as d:
        spec = _spec(Path(d), n)
        tasks = campaign.tasks(spec, range(n))
        t0 = time.process_time()
        for task in tasks:
            campaign.run_task(task)
        return (time.process_time() - t0) / n


def _simglucose_cpu_s_per_patient(n: int = 3) -> tuple[float, str]:
    """Measured in the benchmark's own environment, so simglucose's pins (an old gym that
    needs pkg_resources) never meet the project's."""
    out = subprocess.run([str(BENCH_PYTHON), "bench/simglucose_cost.py", str(n)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"simglucose in {BENCH_PYTHON} (make bench sets it up): {out.stderr[-2000:]}")
    d = json.loads(out.stdout.strip().splitlines()[-1])
    return d["cpu_s_per_patient"], d["simglucose"]


def campaign_throughput(size: int = 12) -> list[Figure]:
    with tempfile.TemporaryDirectory() as d:
        spec = _spec(Path(d), size)
        t0 = time.perf_counter()
        campaign.run(spec, Path(d) / "out", workers=WORKERS)
        wall = time.perf_counter() - t0
    ours_s = _project_cpu_s_per_patient()
    theirs_s, sg_version = _simglucose_cpu_s_per_patient()
    per_core, sg_per_core = 1.0 / ours_s, 1.0 / theirs_s
    params = {"scenario": "standard (120 simulated min, firmware tick 100 ms, PK every 1 s)", "runtime": "cpython"}
    return [
        Figure("campaign_patients_per_s", round(size / wall, 3), "patients/s", target=f"({WORKERS} workers)",
               params={**params, "patients": size, "workers": WORKERS,
                       "includes": "LocalCluster start-up, report and tables"}),
        Figure("campaign_patients_per_s_per_core", round(per_core, 3), "patients/s/core", round(sg_per_core, 3),
               f"simglucose {sg_version}, same run", f">= {TARGET_RATIO}x simglucose",
               {**params, "cpu_s_per_patient": round(ours_s, 3)}),
        Figure("simglucose_patients_per_s_per_core", round(sg_per_core, 3), "patients/s/core",
               params={"simglucose": sg_version, "patient": "adolescent#001", "controller": "basal-bolus",
                       "simulated_min": 120, "cpu_s_per_patient": round(theirs_s, 3)}),
    ]
