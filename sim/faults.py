"""Scenario events: faults, the bench's hands and the operator's actions, each a process that
fires at its time.

A scenario's `[[events]]` entry (occlusion, release, syringe out/in, plunger, power loss,
hypertension, desaturation, a force-sensor fault, and the operator's pause/resume/acknowledge
/stop) becomes one process that waits until the first board tick at or after `at_min` and
then acts on the plant, the board, the patient or the keyboard. The virtual board's power cut
and the simulator's are the same `BoardProcess.power_cut`.
"""

from __future__ import annotations

from typing import Any, Callable

from simpy import Environment

from sim.bedside import STEP_MS
from sim.engine import ACT, Wake, at_tick, now_ms
from sim.scenario import Event

FAULT_ACTIONS = ("occlude", "remove_syringe", "disengage_plunger", "power_loss", "hypertension", "desaturation",
                 "force_sensor_fault")


class Faults:
    """Applies scenario events to the parts of a run (`world`: board, plant, patient, operator)."""

    def __init__(self, env: Environment, world: Any, on_applied: Callable[[Event], None]) -> None:
        self.env = env
        self.world = world
        self.on_applied = on_applied

    def schedule(self, events: list[Event], start_ms: int, tick_ms: int, until_ms: int) -> None:
        """One process per event, at its time from start_ms, if that comes before until_ms."""
        for ev in events:
            t_ms = start_ms + at_tick(ev.at_min * 60000, tick_ms)
            if t_ms < until_ms:
                self.env.process(self._fire(ev, t_ms - now_ms(self.env)))

    def _fire(self, ev: Event, delay_ms: int):
        yield Wake(self.env, delay_ms, ACT)
        self.on_applied(ev)
        self.apply(ev)

    def apply(self, ev: Event) -> None:
        w, p = self.world, ev.params
        plant, patient, op = w.plant.plant, w.patient, w.operator
        actions: dict[str, Callable[[], Any]] = {
            "occlude": lambda: plant.occlude(p["resistance_factor"]),
            "release": plant.release_occlusion,
            "remove_syringe": plant.remove_syringe,
            "insert_syringe": lambda: plant.insert_syringe(None if p["fill_ml"] is None else p["fill_ml"] * 1000.0),
            "disengage_plunger": plant.disengage_plunger,
            "engage_plunger": plant.engage_plunger,
            "power_loss": lambda: w.board.power_cut(int(p["off_s"] * 1000)),
            "pause": lambda: op.command("PAUSE"),
            "resume": lambda: self.env.process(self._resume()),
            "acknowledge": lambda: op.command("ACK"),
            "stop": lambda: op.command("STOP"),
            "hypertension": lambda: patient.add_hypertension_episode(
                patient.t_min, p["duration_min"], p["sbp_mmhg"], p["dbp_mmhg"], p["hr_bpm"]),
            "desaturation": lambda: patient.add_desaturation(patient.t_min, p["duration_min"], p["drop_pct"]),
            "force_sensor_fault": lambda: w.plant.sensor.inject_fault(p["kind"]),
        }
        actions[ev.action]()

    def _resume(self):
        """RESUME. Refused for want of a fresh cuff reading (a reset clears the pump's vitals), the
        nurse presses the monitor's cuff button and resumes once that reading has reached the pump."""
        w = self.world
        a = yield w.operator.command("RESUME")
        monitor = w.monitor.monitor if w.monitor is not None else None
        if not a.ok and a.code in ("VITALS_MISSING", "VITALS_STALE") and a.values.get("field") == "bp" and monitor:
            monitor.request_nibp(self.env.now / 1000.0)
            w.recorder.scenario_log.append({"t_min": self.env.now / 60000.0, "action": "manual_cuff_reading"})
            yield Wake(self.env, round(monitor.cuff_duration_s * 1000) + STEP_MS, ACT)
            yield w.operator.command("RESUME")
