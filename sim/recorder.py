"""The recorder: what a run leaves for its report, taken while it runs.

A process samples the time series every sample_s (pump state and counted steps, volumes,
line pressure and force, Cp/Ce, true vitals); the alarms the pump raised are noted as its
events arrive; and, for safety scenarios, the fault-to-alarm timing, the line pressure at the
alarm, and the bolus that reaches the patient in the two minutes after an occlusion is
released.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware.controller import STATE_NAMES
from sim.engine import RECORD, Wake, every
from sim.faults import FAULT_ACTIONS
from sim.scenario import Event

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


class Recorder:
    def __init__(self, world: Any, prescribed_ml: float, duration_ms: int) -> None:
        self.w = world
        self.env = world.env
        self.prescribed_ml = prescribed_ml  # one session's
        self.duration_ms = duration_ms
        self.session = 0
        self.samples: list[Sample] = []
        self.alarms: list[dict[str, Any]] = []
        self.scenario_log: list[dict[str, Any]] = []
        self.safety: dict[str, Any] = {}
        self._fault_ms: int | None = None

    def start(self, session: int, period_ms: int, until_ms: float) -> None:
        self.session = session
        self.env.process(every(self.env, period_ms, RECORD, self.sample, until_ms))

    def sample(self) -> None:
        w = self.w
        plant, pt, board = w.plant.plant, w.patient, w.board
        v = pt.true_vitals
        planned = self.prescribed_ml * min(1.0, board.running_ms / self.duration_ms)
        self.samples.append(Sample(
            t_min=self.env.now / 60000.0, session=self.session, state=STATE_NAMES[board.outputs.state],
            steps=board.steps, pushed_ml=w.plant.pushed_ml, delivered_ml=w.plant.delivered_ml,
            planned_ml=planned + self.session * self.prescribed_ml,
            pressure_mmhg=plant.pressure_mmhg, force_n=plant.force_n, flow_ml_h=plant.flow_ul_h / 1000.0,
            cp_ng_ml=pt.cp_ng_ml, ce_ng_ml=pt.ce_ng_ml, sbp_mmhg=v.sbp_mmhg, dbp_mmhg=v.dbp_mmhg, hr_bpm=v.hr_bpm,
            spo2_pct=v.spo2_pct, dissociation=pt.dissociation,
        ))

    def event_applied(self, ev: Event) -> None:
        now = self.env.now
        self.scenario_log.append({"t_min": now / 60000.0, "action": ev.action, **ev.params})
        if ev.action in FAULT_ACTIONS and self._fault_ms is None:
            self._fault_ms = now
            self.safety["fault"] = ev.action
            self.safety["fault_t_min"] = now / 60000.0
        if ev.action == "release":
            self.env.process(self._bolus_after_release())

    def pump_event(self, ev: dict[str, Any]) -> None:
        """An `! EVT` line from the pump; alarms are kept with the line's state at that moment."""
        if ev.get("kind") != "alarm":
            return
        now, plant = self.env.now, self.w.plant.plant
        self.alarms.append({"t_min": now / 60000.0, "code": ev["value"],
                            "detail": f"line pressure {plant.pressure_mmhg:.0f} mmHg, "
                                      f"state before {STATE_NAMES[self.w.board.outputs.state]}"})
        if self._fault_ms is not None and "time_to_alarm_s" not in self.safety:
            self.safety["time_to_alarm_s"] = round((now - self._fault_ms) / 1000.0, 1)
            self.safety["alarm_pressure_mmhg"] = round(plant.pressure_mmhg, 1)
            bp = self.w.plant
            self.safety["fault_setup"] = (f"{bp.syringe_id} (plant seed {bp.seed}) filled {self.w.s['syringe']['fill_ml']} mL, "
                                          f"primed {bp.prime_ml:g} mL, fault at {self._fault_ms / 60000:g} min")
            self.safety["alarm_code"] = ev["value"]

    def _bolus_after_release(self):
        """What reached the patient in the window after a release, beyond what the pump meant to give."""
        delivered0, running0 = self.w.plant.delivered_ml * 1000.0, self.w.board.running_ms
        yield Wake(self.env, BOLUS_WINDOW_MS, RECORD)
        planned_ul = self.prescribed_ml * 1000.0 * (self.w.board.running_ms - running0) / self.duration_ms
        self.safety["bolus_after_release_ml"] = round((self.w.plant.delivered_ml * 1000.0 - delivered0 - planned_ul) / 1000.0, 4)
