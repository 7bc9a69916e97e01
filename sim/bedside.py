"""The bedside: the patient and the vitals monitor, each a process that runs every second.

Patient: every second the drug that left the line in that second (volume x concentration)
enters the patient's pharmacokinetics as a constant rate over the second, and PK/PD advance
exactly over it (see sim/pk.py). Monitor: right after, the monitor (sim/vitals_monitor.py)
reads the patient as it now is and gives the readings that fell due; the operator reports
them to the pump as they come (VITALS, a cuff reading with its own bp_id).
"""

from __future__ import annotations

from typing import Callable

from simpy import Environment

from sim.engine import MONITOR, PATIENT, every
from sim.operator import Operator
from sim.patient import Patient
from sim.vitals_monitor import VitalsMonitor, vitals_reports

STEP_MS = 1000


class PatientProcess:
    """PK/PD advanced every second by what the line delivered (`delivered_ul()`)."""

    def __init__(self, env: Environment, patient: Patient, delivered_ul: Callable[[], float], conc_mg_ml: float) -> None:
        self.env = env
        self.patient = patient
        self.delivered_ul = delivered_ul
        self.conc_mg_ml = conc_mg_ml
        self._fed_ul = 0.0  # delivered volume already given to the patient model

    def start(self, until_ms: float):
        return self.env.process(every(self.env, STEP_MS, PATIENT, self.step, until_ms))

    def step(self) -> None:
        delivered = self.delivered_ul()
        dose_ug = (delivered - self._fed_ul) * self.conc_mg_ml  # uL x mg/mL = ug
        self._fed_ul = delivered
        dt_min = STEP_MS / 60000.0
        self.patient.advance(dt_min, dose_ug / dt_min)

    def washout(self, duration_ms: int) -> None:
        """Time without drug (days between sessions): one exact PK step."""
        self.patient.advance(duration_ms / 60000.0, 0.0)


class MonitorProcess:
    """The monitor's readings, sent to the pump by the operator as they come."""

    def __init__(self, env: Environment, monitor: VitalsMonitor, operator: Operator) -> None:
        self.env = env
        self.monitor = monitor
        self.operator = operator

    def start(self, until_ms: float, session: int):
        if session > 0:
            self.monitor.connect(self.env.now / 1000.0)  # put on the patient again
        return self.env.process(every(self.env, STEP_MS, MONITOR, self.step, until_ms))

    def step(self) -> None:
        for report in vitals_reports(self.monitor.due_readings(self.env.now / 1000.0)):
            self.operator.command("VITALS", **report)
