"""The simulation runner: a scenario wired into the engine, run, and its result.

The runner builds the parts of a session (the board with its backend, the purged syringe and
line, the patient, the monitor, the operator) and starts their processes on one
`simpy.Environment` (sim/engine.py). The course is the runner's own process: each session
begins with a fresh syringe, the operator programs and starts the pump at `run.start_min`, the
scenario's events fire at their times, and the session ends at `run.end_min`; between the
sessions of a course the drug washes out and the board idles. At the end the operator asks
the pump for its STATUS. The run is deterministic for a scenario and seed.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import simpy

from sim import operator as op
from sim.bedside import MonitorProcess, PatientProcess
from sim.board import BoardProcess
from sim.board_backend import open_backend
from sim.board_plant import BoardPlant
from sim.engine import ACT, COURSE, Wake, at_tick, environment, every, now_ms
from sim.faults import Faults
from sim.nurse import AlarmResponse, Nurse
from sim.patient import Patient, population_table, typical
from sim.prescription_entry import prescribed_dose_mg, prescribed_volume_ml, pump_fields
from sim.recorder import Recorder, Sample
from sim.pk import PKIndividual
from sim.scenario import FALLBACK_SYRINGE, Scenario, ScenarioError
from sim.syringe import load_syringe_table
from sim.vitals_monitor import VitalsMonitor

__all__ = ["RunResult", "Sample", "make_patient", "run"]
PROGRESS_MS = 60000


@dataclass
class RunResult:
    scenario: Scenario
    runtime: str
    firmware_version: str
    seed: int
    samples: list[Sample]
    alarms: list[dict[str, Any]]
    events: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    final_status: dict[str, Any]
    delivered_ml: float
    prescribed_ml: float
    prescribed_mg: float
    sim_min: float
    wall_s: float
    scenario_log: list[dict[str, Any]] = field(default_factory=list)
    safety: dict[str, Any] = field(default_factory=dict)


PROFILE_KEYS = ("baseline_sbp_mmhg", "baseline_dbp_mmhg", "baseline_hr_bpm", "baseline_spo2_pct", "sbp_rise_mmhg_per_ng_ml",
                "dbp_rise_mmhg_per_ng_ml", "hr_rise_bpm_per_ng_ml", "dissociation_per_ng_ml", "height_cm")
ETA_KEYS = ("eta_cl", "eta_v1", "eta_v2", "eta_v3")


def make_patient(s: Scenario, seed: int) -> Patient:
    p = s["patient"]
    patient = typical(weight_kg=float(p["weight_kg"]), pk_model=p["pk_model"],
                      noise_seed=p["noise_seed"] if p["noise_seed"] is not None else seed, age_years=float(p["age_years"]))
    changes: dict[str, Any] = {}
    if p["hypertensive"]:
        base = population_table()["baseline"]["hypertensive"]
        changes.update(hypertensive=True, baseline_sbp_mmhg=base["sbp_mmhg"]["mean"], baseline_dbp_mmhg=base["dbp_mmhg"]["mean"])
    for key in PROFILE_KEYS:
        if p[key] is not None:
            changes[key] = float(p[key])
    if p["sex"] is not None:
        changes["sex"] = p["sex"]
    individual = PKIndividual(*(float(p[k]) for k in ETA_KEYS), allometric=p["allometric_clearance"],
                              size_weight_kg=None if p["pk_size_weight_kg"] is None else float(p["pk_size_weight_kg"]))
    if not individual.is_typical:
        changes["pk_individual"] = individual
    if changes:
        try:
            patient = Patient(dataclasses.replace(patient.profile, **changes))
        except ValueError as e:
            raise ScenarioError(f"[patient]: {e}") from None
    return patient


class Simulation:
    """One chair: pump, syringe and line, patient and monitor, operator; run by the course."""

    def __init__(self, env: simpy.Environment, scenario: Scenario, runtime: str, seed: int,
                 patient: Patient | None = None, storage_dir: Path | None = None) -> None:
        self.env = env
        self.s = scenario
        self.seed = seed
        self.rx = scenario["prescription"]
        self.weight_kg = float(patient.profile.weight_kg if patient is not None else scenario["patient"]["weight_kg"])
        self.fields = pump_fields(self.rx, self.weight_kg)
        self.prescribed_ml = prescribed_volume_ml(self.rx, self.weight_kg)
        self.patient = patient if patient is not None else make_patient(scenario, seed)
        self.backend = open_backend(runtime, scenario["board"]["name"], storage_dir)
        self.plant = BoardPlant(self._syringe(), fill_ml=scenario["syringe"]["fill_ml"], board=scenario["board"]["name"],
                                seed=seed * 100, prime_ml=float(scenario["syringe"]["prime_ml"]))
        self.recorder = Recorder(self, self.prescribed_ml, self.rx["duration_min"] * 60000)
        self.operator = op.Operator(env, on_event=self._pump_event)
        self.board = BoardProcess(env, self.backend, self.plant, self.operator, self._tick_ms())
        self.patient_process = PatientProcess(env, self.patient, lambda: self.plant.delivered_ml * 1000.0,
                                              float(self.rx["concentration_mg_ml"]))
        mon = scenario["monitor"]
        self.monitor = MonitorProcess(env, VitalsMonitor(self.patient, seed + 1, cuff_interval_min=float(mon["cuff_interval_min"])),
                                      self.operator) if mon["connected"] else None
        self.faults = Faults(env, self, self.recorder.event_applied)
        n = scenario["nurse"]
        self.alarm_response = AlarmResponse(Nurse(env, float(n["response_median_s"]), float(n["response_spread"]), seed + 2),
                                            self) if n["present"] else None
        self.sessions: list[dict[str, Any]] = []
        self.final_status: dict[str, Any] = {}

    def _pump_event(self, ev: dict[str, Any]) -> None:
        self.recorder.pump_event(ev)
        if self.alarm_response is not None and ev.get("kind") == "alarm":
            self.alarm_response.alarm(ev["value"])

    def _tick_ms(self) -> int:
        from firmware.board import Board

        return Board.load(self.s["board"]["name"]).tick_ms

    def _syringe(self) -> str:
        return self.rx["syringe"] if self.rx["syringe"] in load_syringe_table() else FALLBACK_SYRINGE

    def run(self, progress: Callable[[float, float], None] | None = None) -> RunResult:
        env, scenario = self.env, self.s
        wall0 = time.perf_counter()
        try:
            done = env.process(self.course())
            if progress is not None:
                total = _total_min(scenario)
                env.process(every(env, PROGRESS_MS, COURSE, lambda: progress(env.now / 60000.0, total)))
            env.run(until=done)
        finally:
            self.backend.quit()
        sessions, rec = scenario["course"]["sessions"], self.recorder
        if self.alarm_response is not None:
            rec.safety["alarm_response_s"] = self.alarm_response.response_s
            rec.safety["time_alarm_to_resume_s"] = self.alarm_response.to_resume_s
        return RunResult(
            scenario=scenario, runtime=self.backend.runtime, firmware_version=self.backend.version, seed=self.seed,
            samples=rec.samples, alarms=rec.alarms, events=self.operator.events, sessions=self.sessions,
            final_status=self.final_status, delivered_ml=self.plant.delivered_ml,
            prescribed_ml=self.prescribed_ml * sessions,
            prescribed_mg=prescribed_dose_mg(self.rx, self.weight_kg) * sessions,
            sim_min=env.now / 60000.0, wall_s=time.perf_counter() - wall0, scenario_log=rec.scenario_log, safety=rec.safety,
        )

    def course(self):
        """The process of the whole course: sessions, the gaps between them, the final STATUS."""
        course = self.s["course"]
        for session in range(course["sessions"]):
            if session > 0:
                gap_ms = int(course["interval_days"] * 86400000)
                self.patient_process.washout(gap_ms)
                self.board.idle(gap_ms)
                yield Wake(self.env, gap_ms, COURSE)
                self.plant.load_syringe(self._syringe(), self.s["syringe"]["fill_ml"], seed=self.seed * 100 + session)
            yield from self._session(session)
        answer = yield self.operator.command("STATUS")
        self.final_status = dict(answer.values) if answer.ok and answer.command == "STATUS" else {}

    def _session(self, session: int):
        env, run, tick_ms = self.env, self.s["run"], self.board.tick_ms
        start = now_ms(env)
        end = start + at_tick(run["end_min"] * 60000, tick_ms)
        record: dict[str, Any] = {"session": session, "start_min": start / 60000.0}
        self.sessions.append(record)
        self.patient_process.start(end)
        if self.monitor is not None:
            self.monitor.start(end, session)
        self.recorder.start(session, max(1, int(run["sample_s"] * 1000) // tick_ms) * tick_ms, end)
        start_at = start + at_tick(run["start_min"] * 60000, tick_ms)
        if start_at < end:
            env.process(self._program_and_start(start_at - start, record))
        if session == 0:
            self.faults.schedule(self.s.events, start, tick_ms, end)
        yield Wake(env, end - start, COURSE)
        record["delivered_ml"] = self.plant.syringe_delivered_ml

    def _program_and_start(self, delay_ms: int, record: dict[str, Any]):
        yield Wake(self.env, delay_ms, ACT)
        self.operator.run(op.program_and_start, self.fields, self.rx["confirm_soft_limits"], record)


def run(scenario: Scenario, runtime: str | None = None, seed: int | None = None,
        progress: Callable[[float, float], None] | None = None, patient: Patient | None = None) -> RunResult:
    """Run a scenario; `patient` (e.g. from sim.patient.sample) replaces the scenario's own."""
    return simulation(scenario, runtime, seed, patient).run(progress)


def simulation(scenario: Scenario, runtime: str | None = None, seed: int | None = None,
               patient: Patient | None = None) -> Simulation:
    """The scenario wired into a fresh engine, ready to run (its parts can be looked at after)."""
    return Simulation(environment(), scenario, runtime or scenario["run"]["runtime"],
                      scenario["run"]["seed"] if seed is None else seed, patient)


def _total_min(s: Scenario) -> float:
    c = s["course"]
    return c["sessions"] * s["run"]["end_min"] + (c["sessions"] - 1) * c["interval_days"] * 1440
