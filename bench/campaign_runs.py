"""Campaign throughput, and simglucose's patients per second per core measured in the same run.

simglucose (PyPI `simglucose`: a virtual type 1 diabetes patient, CGM, insulin pump and
controller; the usual open-source virtual-patient simulator) is the yardstick users compare
with. It is installed from bench/requirements.txt, never as a project dependency. Per core is
CPU seconds of one process per patient, for both: one 120 min session each (the standard
scenario here; one adolescent with the basal-bolus controller there).
"""

from __future__ import annotations

import tempfile
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path

from bench.results import Figure
from sim import campaign, campaign_spec
from sim.scenario import SCENARIO_DIR

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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from importlib.metadata import version

        from simglucose.actuator.pump import InsulinPump
        from simglucose.controller.basal_bolus_ctrller import BBController
        from simglucose.patient.t1dpatient import T1DPatient
        from simglucose.sensor.cgm import CGMSensor
        from simglucose.simulation.env import T1DSimEnv
        from simglucose.simulation.scenario_gen import RandomScenario
        from simglucose.simulation.sim_engine import SimObj

        start = datetime(2026, 1, 1, 8, 0, 0)
        t0 = time.process_time()
        for i in range(n):
            env = T1DSimEnv(T1DPatient.withName("adolescent#001"), CGMSensor.withName("Dexcom", seed=i + 1),
                            InsulinPump.withName("Insulet"), RandomScenario(start_time=start, seed=i + 1))
            SimObj(env, BBController(), timedelta(minutes=120), animate=False, path=None).simulate()
        return (time.process_time() - t0) / n, version("simglucose")


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
