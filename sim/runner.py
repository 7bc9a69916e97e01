"""The simulation runner: firmware + syringe/line plant + patient + monitor, in lockstep.

Each control tick (the board's tick, 100 ms) the runner reads the simulated force sensor and
switches, sends them with any operator bytes to the firmware (in the `micropython` interpreter
or imported into CPython), advances the plant to the STEP-line position the firmware reports,
and feeds what reached the vein to the patient's pharmacokinetics. Scenario events (occlusion,
syringe removal, power loss, operator actions, hypertension) happen at their times. The run is
deterministic for a scenario and seed.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable

from firmware.board import Board
from sim import operator as op
from sim.bus import SWITCH_PLUNGER, SWITCH_SYRINGE, STATE_NAMES, start_firmware
from sim.patient import Patient, population_table, typical
from sim.board_plant import BoardPlant
from sim.prescription_entry import prescribed_dose_mg, prescribed_volume_ml, pump_fields
from sim.scenario import Scenario
from sim.vitals_monitor import VitalsMonitor, vitals_reports

PK_STEP_TICKS = 10  # patient and monitor advance every 10 ticks (1 s)
FAULT_ACTIONS = ("occlude", "remove_syringe", "disengage_plunger", "power_loss", "hypertension", "desaturation",
                 "force_sensor_fault")
BOLUS_WINDOW_MS = 120000  # what flows in the 2 min after an occlusion is released


@dataclass
class Sample:
    t_min: float
    session: int
    state: str
    steps: int
    pushed_ml: float
    delivered_ml: float
    planned_ml: float
    pressure_mmhg: float
    force_n: float
    flow_ml_h: float
    cp_ng_ml: float
    ce_ng_ml: float
    sbp_mmhg: float
    dbp_mmhg: float
    hr_bpm: float
    spo2_pct: float
    dissociation: float


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


def make_patient(s: Scenario, seed: int) -> Patient:
    p = s["patient"]
    patient = typical(weight_kg=float(p["weight_kg"]), pk_model=p["pk_model"],
                      noise_seed=p["noise_seed"] if p["noise_seed"] is not None else seed, age_years=float(p["age_years"]))
    changes: dict[str, Any] = {}
    if p["hypertensive"]:
        base = population_table()["baseline"]["hypertensive"]
        changes.update(hypertensive=True, baseline_sbp_mmhg=base["sbp_mmhg"]["mean"], baseline_dbp_mmhg=base["dbp_mmhg"]["mean"])
    for key in ("baseline_sbp_mmhg", "baseline_dbp_mmhg", "baseline_hr_bpm", "sbp_rise_mmhg_per_ng_ml"):
        if p[key] is not None:
            changes[key] = float(p[key])
    if changes:
        patient = Patient(dataclasses.replace(patient.profile, **changes))
    return patient


class Runner:
    def __init__(self, scenario: Scenario, runtime: str | None = None, seed: int | None = None,
                 progress: Callable[[float, float], None] | None = None, patient: Patient | None = None) -> None:
        self.s = scenario
        self.runtime = runtime or scenario["run"]["runtime"]
        self.seed = scenario["run"]["seed"] if seed is None else seed
        self.progress = progress
        self.board = Board.load(scenario["board"]["name"])
        self.tick_ms = self.board.tick_ms
        self.weight_kg = float(patient.profile.weight_kg if patient is not None else scenario["patient"]["weight_kg"])
        self.rx = scenario["prescription"]
        self.conc_mg_ml = float(self.rx["concentration_mg_ml"])
        self.fields = pump_fields(self.rx, self.weight_kg)
        self.patient = patient if patient is not None else make_patient(scenario, self.seed)
        mon = scenario["monitor"]
        self.monitor = VitalsMonitor(self.patient, self.seed + 1, cuff_interval_min=float(mon["cuff_interval_min"])) if mon["connected"] else None
        self.operator = op.Operator(on_event=self._on_event)
        self.alarms: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.samples: list[Sample] = []
        self.scenario_log: list[dict[str, Any]] = []
        self.t_ms = 0  # simulated time since the run began
        self.state = 0
        self.position_offset = 0  # STEP counts of firmware lives before the last power loss (reporting)
        self.position = 0
        self.bp: BoardPlant | None = None  # syringe, line and load cell, as the board sees them
        self._running_ms = 0
        self._fed_ul = 0.0  # delivered volume already given to the patient model
        self.safety: dict[str, Any] = {}  # fault -> alarm timing, pressure at alarm, release bolus
        self._fault_ms: int | None = None
        self._release: tuple[int, float, int] | None = None  # (t_ms, delivered_ul, running_ms) at release
        self._resume_at_ms: int | None = None  # RESUME again once a manual cuff reading is in
        # The board's flash: files that outlive a power cut when the scenario cuts the power
        # (a folder per run), else RAM, which is faster.
        self._flash = tempfile.TemporaryDirectory(prefix="pump-flash-") if any(
            e.action == "power_loss" for e in scenario.events) else None
        self.fw = start_firmware(self.runtime, scenario["board"]["name"], self._flash_dir())
        self.firmware_version = self.fw.version

    # ---- set-up per session ---------------------------------------------------------------
    def _new_syringe(self, session: int) -> None:
        """A purged syringe for this session (the scenario's fill and purge; one seeded syringe each)."""
        syringe = self.rx["syringe"] if self._known_syringe() else "bd_plastipak_50"
        fill = self.s["syringe"]["fill_ml"]
        seed = self.seed * 100 + session
        if self.bp is None:
            self.bp = BoardPlant(syringe, fill_ml=fill, board=self.s["board"]["name"], seed=seed,
                                 prime_ml=float(self.s["syringe"]["prime_ml"]), t_ms=self.t_ms)
        else:
            self.bp.load_syringe(syringe, fill, seed=seed)

    @property
    def plant(self):
        assert self.bp is not None
        return self.bp.plant

    def _known_syringe(self) -> bool:
        from sim.syringe import load_syringe_table

        return self.rx["syringe"] in load_syringe_table()

    # ---- the loop ---------------------------------------------------------------------------
    def run(self) -> RunResult:
        wall0 = time.perf_counter()
        course = self.s["course"]
        end_ms = int(self.s["run"]["end_min"] * 60000)
        for session in range(course["sessions"]):
            if session > 0:
                self._gap(int(course["interval_days"] * 86400000))
            self._session(session, end_ms)
        status = self._final_status()
        self.fw.close()
        if self._flash is not None:
            self._flash.cleanup()
        return RunResult(
            scenario=self.s, runtime=self.runtime, firmware_version=self.firmware_version, seed=self.seed,
            samples=self.samples, alarms=self.alarms, events=self.operator.events, sessions=self.sessions,
            final_status=status, delivered_ml=self._delivered_ul() / 1000.0,
            prescribed_ml=prescribed_volume_ml(self.rx, self.weight_kg) * course["sessions"],
            prescribed_mg=prescribed_dose_mg(self.rx, self.weight_kg) * course["sessions"],
            sim_min=self.t_ms / 60000.0, wall_s=time.perf_counter() - wall0, scenario_log=self.scenario_log,
            safety=self.safety,
        )

    def _session(self, session: int, length_ms: int) -> None:
        self._new_syringe(session)
        if self.monitor is not None and session > 0:
            self.monitor.connect(self.t_ms / 1000.0)
        self.session = session
        self.session_start_ms = self.t_ms
        self.session_record: dict[str, Any] = {"session": session, "start_min": self.t_ms / 60000.0}
        self.sessions.append(self.session_record)
        events = list(self.s.events) if session == 0 else []
        start_ms = int(self.s["run"]["start_min"] * 60000)
        started = False
        sample_ticks = max(1, int(self.s["run"]["sample_s"] * 1000) // self.tick_ms)
        n = 0
        while self.t_ms - self.session_start_ms < length_ms:
            rel = self.t_ms - self.session_start_ms
            if not started and rel >= start_ms:
                started = True
                self.operator.run(op.program_and_start(self.fields, self.rx["confirm_soft_limits"], self.session_record))
            if self._resume_at_ms is not None and self.t_ms >= self._resume_at_ms:
                self._resume_at_ms = None
                self.operator.run(op.command("RESUME"))
            while events and events[0].at_min * 60000 <= rel:
                self._apply(events.pop(0))
            self._tick()
            n += 1
            if n % PK_STEP_TICKS == 0:
                self._advance_patient(PK_STEP_TICKS * self.tick_ms)
                self._measure_bolus()
            if n % sample_ticks == 0:
                self._sample()
            if self.progress and n % 600 == 0:
                self.progress(self.t_ms / 60000.0, self._total_min())
        self.session_record["delivered_ml"] = self._bp().syringe_delivered_ml

    def _total_min(self) -> float:
        c = self.s["course"]
        return c["sessions"] * self.s["run"]["end_min"] + (c["sessions"] - 1) * c["interval_days"] * 1440

    def _bp(self) -> BoardPlant:
        assert self.bp is not None
        return self.bp

    def _tick(self) -> None:
        bp = self._bp()
        out, tx = self.fw.step(self.tick_ms, bp.force_raw, bp.samples, bp.switches, self.operator.take_output())
        self.t_ms += self.tick_ms
        self.position = out.position
        self.state = out.state
        if out.state == 3:
            self._running_ms += self.tick_ms
        bp.advance(self.tick_ms, out.position)
        if tx:
            self.operator.feed(tx)

    def _advance_patient(self, dt_ms: int) -> None:
        delivered = self._delivered_ul()
        dose_ug = (delivered - self._fed_ul) * self.conc_mg_ml  # uL x mg/mL = ug
        self._fed_ul = delivered
        dt_min = dt_ms / 60000.0
        self.patient.advance(dt_min, dose_ug / dt_min)
        if self.monitor is not None:
            for report in vitals_reports(self.monitor.due_readings(self.t_ms / 1000.0)):
                self.operator.run(op.command("VITALS", **report))

    def _delivered_ul(self) -> float:
        return self._bp().delivered_ml * 1000.0

    def _gap(self, gap_ms: int) -> None:
        """Days between sessions: the pump idles, the drug washes out; one exact PK step."""
        self.patient.advance(gap_ms / 60000.0, 0.0)
        remaining = gap_ms
        while remaining > 0:
            dt = min(remaining, 3600000)
            bp = self._bp()
            out, tx = self.fw.step(dt, bp.force_raw, bp.samples, SWITCH_SYRINGE | SWITCH_PLUNGER, self.operator.take_output())
            self.position = out.position
            bp.idle(dt)
            self.t_ms += dt
            remaining -= dt
            if tx:
                self.operator.feed(tx)

    def _sample(self) -> None:
        plant, pt = self.plant, self.patient
        v = pt.true_vitals
        planned = prescribed_volume_ml(self.rx, self.weight_kg) * min(1.0, self._running_ms / (self.rx["duration_min"] * 60000))
        self.samples.append(Sample(
            t_min=self.t_ms / 60000.0, session=self.session, state=STATE_NAMES[self.state],
            steps=self.position_offset + self.position, pushed_ml=self._bp().pushed_ml,
            delivered_ml=self._delivered_ul() / 1000.0, planned_ml=planned + self.session * prescribed_volume_ml(self.rx, self.weight_kg),
            pressure_mmhg=plant.pressure_mmhg, force_n=plant.force_n, flow_ml_h=plant.flow_ul_h / 1000.0,
            cp_ng_ml=pt.cp_ng_ml, ce_ng_ml=pt.ce_ng_ml, sbp_mmhg=v.sbp_mmhg, dbp_mmhg=v.dbp_mmhg, hr_bpm=v.hr_bpm,
            spo2_pct=v.spo2_pct, dissociation=pt.dissociation,
        ))

    # ---- scenario events ----------------------------------------------------------------------
    def _measure_bolus(self) -> None:
        """After a release: what reached the patient beyond what the pump meant to give."""
        if self._release is None:
            return
        t0, delivered0, running0 = self._release
        if self.t_ms - t0 >= BOLUS_WINDOW_MS:
            planned_ul = prescribed_volume_ml(self.rx, self.weight_kg) * 1000.0 * (self._running_ms - running0) / (self.rx["duration_min"] * 60000)
            self.safety["bolus_after_release_ml"] = round((self._delivered_ul() - delivered0 - planned_ul) / 1000.0, 4)
            self._release = None

    def _apply(self, ev) -> None:
        self.scenario_log.append({"t_min": self.t_ms / 60000.0, "action": ev.action, **ev.params})
        if ev.action in FAULT_ACTIONS and self._fault_ms is None:
            self._fault_ms = self.t_ms
            self.safety["fault"] = ev.action
            self.safety["fault_t_min"] = self.t_ms / 60000.0
        if ev.action == "release":
            self._release = (self.t_ms, self._delivered_ul(), self._running_ms)
        p, plant = ev.params, self.plant
        actions: dict[str, Callable[[], None]] = {
            "occlude": lambda: plant.occlude(p["resistance_factor"]),
            "release": plant.release_occlusion,
            "remove_syringe": plant.remove_syringe,
            "insert_syringe": lambda: plant.insert_syringe(None if p["fill_ml"] is None else p["fill_ml"] * 1000.0),
            "disengage_plunger": plant.disengage_plunger,
            "engage_plunger": plant.engage_plunger,
            "power_loss": lambda: self._power_loss(p["off_s"]),
            "pause": lambda: self.operator.run(op.command("PAUSE")),
            "resume": lambda: self.operator.run(self._resume()),
            "acknowledge": lambda: self.operator.run(op.command("ACK")),
            "stop": lambda: self.operator.run(op.command("STOP")),
            "hypertension": lambda: self.patient.add_hypertension_episode(
                self.patient.t_min, p["duration_min"], p["sbp_mmhg"], p["dbp_mmhg"], p["hr_bpm"]),
            "desaturation": lambda: self.patient.add_desaturation(self.patient.t_min, p["duration_min"], p["drop_pct"]),
            "force_sensor_fault": lambda: self._bp().sensor.inject_fault(p["kind"]),
        }
        actions[ev.action]()

    def _resume(self) -> op.Script:
        """RESUME. Refused for want of a fresh cuff reading (a reset clears the pump's vitals), the
        nurse presses the monitor's cuff button and resumes once that reading has reached the pump."""
        a = yield "RESUME", {}
        if not a.ok and a.code in ("VITALS_MISSING", "VITALS_STALE") and a.values.get("field") == "bp" and self.monitor:
            self.monitor.request_nibp(self.t_ms / 1000.0)
            self.scenario_log.append({"t_min": self.t_ms / 60000.0, "action": "manual_cuff_reading"})
            self._resume_at_ms = self.t_ms + round(self.monitor.cuff_duration_s * 1000) + PK_STEP_TICKS * self.tick_ms

    def _power_loss(self, off_s: float) -> None:
        """The board loses power: no ticks while off, then it boots again from scratch."""
        bp = self._bp()
        self.fw.close()
        self.position_offset += self.position
        t_end = self.t_ms + int(off_s * 1000)
        while self.t_ms < t_end:
            self.t_ms += self.tick_ms
            bp.advance(self.tick_ms, bp.position)  # the motor holds where it stopped
        self.fw = start_firmware(self.runtime, self.s["board"]["name"], self._flash_dir())
        bp.rebase(0)  # the new firmware's STEP counter starts at zero
        self.position = 0

    def _flash_dir(self) -> Path | None:
        return Path(self._flash.name) if self._flash is not None else None

    def _on_event(self, ev: dict[str, Any]) -> None:
        if ev.get("kind") == "alarm":
            self.alarms.append({"t_min": self.t_ms / 60000.0, "code": ev["value"],
                                "detail": f"line pressure {self.plant.pressure_mmhg:.0f} mmHg, state before {STATE_NAMES[self.state]}"})
            if self._fault_ms is not None and "time_to_alarm_s" not in self.safety:
                self.safety["time_to_alarm_s"] = round((self.t_ms - self._fault_ms) / 1000.0, 1)
                self.safety["alarm_pressure_mmhg"] = round(self.plant.pressure_mmhg, 1)
                bp = self._bp()
                self.safety["fault_setup"] = (f"{bp.syringe_id} (plant seed {bp.seed}) filled {self.s['syringe']['fill_ml']} mL, "
                                              f"primed {bp.prime_ml:g} mL, fault at {self._fault_ms / 60000:g} min")
                self.safety["alarm_code"] = ev["value"]

    def _final_status(self) -> dict[str, Any]:
        self.operator.run(op.command("STATUS"))
        for _ in range(3):
            self._tick()
            if self.operator.idle():
                break
        ans = self.operator.answers[-1] if self.operator.answers else None
        return dict(ans.values) if ans is not None and ans.ok and ans.command == "STATUS" else {}


def run(scenario: Scenario, runtime: str | None = None, seed: int | None = None,
        progress: Callable[[float, float], None] | None = None, patient: Patient | None = None) -> RunResult:
    """Run a scenario; `patient` (e.g. from sim.patient.sample) replaces the scenario's own."""
    return Runner(scenario, runtime, seed, progress, patient).run()
