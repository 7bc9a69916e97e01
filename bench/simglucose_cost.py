"""Runs in the benchmark's own environment (.venv-bench, bench/requirements.txt): CPU seconds
per simglucose patient, one 120 min session each (adolescent#001, basal-bolus controller).

Prints one JSON line. Usage: .venv-bench/bin/python bench/simglucose_cost.py [N]
"""

import json
import sys
import time
import warnings
from datetime import datetime, timedelta
from importlib.metadata import version


def main(n: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
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
        cpu_s = (time.process_time() - t0) / n
    print(json.dumps({"cpu_s_per_patient": cpu_s, "patients": n, "simglucose": version("simglucose")}))


main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
