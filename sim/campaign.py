"""Campaigns: many virtual patients, each with their own body, PK, dose and faults, on Dask.

    python -m sim campaign SPEC.toml [--workers N] [--scheduler tcp://HOST:8786] [--out DIR]

A campaign (sim/campaign_spec.py) is a list of patients. Patient i is one task, fully described
by a scenario command line: the base scenario, `--set` overrides for the patient drawn as
number i from the population (seed, i), the dose the prescription rule gives them, the faults
drawn for them from (seed, i) as `--event`s, and a run seed from (seed, i). So the result of a
patient does not depend on which worker ran it, or when: 1 core, 2 cores or a cluster give the
same rows, and every row carries the one-line `python -m sim run ...` that re-runs it alone.

By default the tasks run on a Dask `LocalCluster` with one single-threaded worker process per
core; `--scheduler` sends them to an existing cluster (its workers need this repository on
their Python path); `--workers 0` runs them in this process. Rows come back as they finish
(`as_completed`), each appended at once as one JSON line to `results.jsonl`, so a killed
campaign resumes from what was written: the patients already there are not run again. At the
end the rows, in patient order, are written as `patients.parquet`, `patients.csv` and the
report `report.html` (sim/campaign_report.py).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from firmware.hal.virtual import VirtualClock
from firmware.vitals import VitalsGuard
from sim import report, runner
from sim import scenario as scn
from sim.campaign_spec import FAULTS, UNDO, CampaignSpec, SpecError, describe, draw_time
from sim.patient import PatientProfile, profiles_at
from sim.prescription_entry import prescribed_volume_ml
from sim.pk import adjusted_body_weight_kg, body_mass_index, ideal_body_weight_kg
from sim.runner import ETA_KEYS, PROFILE_KEYS
from sim.syringe import load_syringe_table

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"
ALARM_LIMITS_PATH = Path(__file__).resolve().parent.parent / "firmware" / "data" / "alarm_limits.json"
# The library's dose range for the "library" rule (ug/kg), read from the pump's own table.
DRUG_LIBRARY_PATH = ALARM_LIMITS_PATH.parent / "drug_library.json"
DOSE_STEP_MG_KG = 0.05
SYRINGE_MARGIN_ML = 2.0  # a nurse fills a little more than the dose and the purge


@dataclass(frozen=True)
class Task:
    """One patient: everything `python -m sim run` needs to run them alone."""

    index: int
    base: str
    overrides: tuple[str, ...]
    events: tuple[str, ...]
    seed: int
    runtime: str

    @property
    def command(self) -> str:
        words = ["python", "-m", "sim", "run", self.base, "--runtime", self.runtime, "--seed", str(self.seed)]
        for item in self.overrides:
            words += ["--set", item]
        for item in self.events:
            words += ["--event", item]
        return shlex.join(words)


# -- the patients ----------------------------------------------------------------------
def tasks(spec: CampaignSpec, indices: Iterable[int]) -> list[Task]:
    """The tasks for these patient numbers (each from (seed, index) alone)."""
    indices = list(indices)
    base = scn.load(spec.base, spec.overrides)
    profiles = profiles_at(indices, spec.seed, spec.pk_model, spec.table)
    return [_task(spec, base, i, profile) for i, profile in zip(indices, profiles)]


def _task(spec: CampaignSpec, base: scn.Scenario, index: int, profile: PatientProfile) -> Task:
    rng = np.random.default_rng([spec.seed, index, 1])
    run_seed = int(rng.integers(1, 2**31 - 1))
    dose_mg_kg, duration_min = _dose(spec, index, rng)
    weight_kg = round(profile.weight_kg, 1)  # as the scale shows it: the pump takes whole grams
    dose_weight_kg = {"total": weight_kg, "ideal": round(profile.ideal_weight_kg, 1),
                      "adjusted": round(adjusted_body_weight_kg(weight_kg, profile.ideal_weight_kg), 1)}[spec.dose_weight]
    overrides = [*spec.overrides, *_patient_overrides(profile, weight_kg),
                 f"prescription.dose_mg_kg={dose_mg_kg!r}", f"prescription.duration_min={duration_min}",
                 "prescription.confirm_soft_limits=true"]
    if dose_weight_kg != weight_kg:
        overrides.append(f"prescription.weight_kg={dose_weight_kg!r}")
    fill = _fill_ml(base, dose_mg_kg * dose_weight_kg)
    if fill is not None:
        overrides.append(f"syringe.fill_ml={fill!r}")
    events = _faults(spec, index, base["run"]["end_min"])
    return Task(index, _relative(spec.base), tuple(overrides), tuple(events), run_seed, spec.runtime)


def _patient_overrides(p: PatientProfile, weight_kg: float) -> list[str]:
    ind = p.pk_individual
    values: dict[str, Any] = {"weight_kg": weight_kg, "age_years": round(p.age_years, 2), "pk_model": p.pk_model,
                              "hypertensive": p.hypertensive, "sex": p.sex, "noise_seed": p.noise_seed,
                              **{key: getattr(p, key) for key in PROFILE_KEYS},
                              **{key: getattr(ind, key) for key in ETA_KEYS},
                              "allometric_clearance": ind.allometric}
    if ind.size_weight_kg is not None:
        values["pk_size_weight_kg"] = ind.size_weight_kg
    return [f"patient.{key}={_toml(value)}" for key, value in values.items()]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _dose(spec: CampaignSpec, index: int, rng: np.random.Generator) -> tuple[float, int]:
    duration = spec.durations_min[index % len(spec.durations_min)]
    if spec.rule == "grid":
        return float(spec.doses_mg_kg[index % len(spec.doses_mg_kg)]), duration
    low_ug, high_ug = _library_soft_dose_ug_kg()
    steps = int(round((high_ug - low_ug) / 1000 / DOSE_STEP_MG_KG))
    return round(low_ug / 1000 + DOSE_STEP_MG_KG * int(rng.integers(0, steps + 1)), 3), duration


def _library_soft_dose_ug_kg() -> tuple[int, int]:
    doc = json.loads(DRUG_LIBRARY_PATH.read_text())
    low, high = doc["drugs"]["ketamine"]["profiles"]["depression"]["dose_ug_kg"]["soft"]
    return low, high


def _fill_ml(base: scn.Scenario, dose_mg: float) -> float | None:
    """A fill for the dose when the base scenario's would run dry (None: keep the base's)."""
    need_ml = dose_mg / float(base["prescription"]["concentration_mg_ml"]) + float(base["syringe"]["prime_ml"])
    fill = base["syringe"]["fill_ml"]
    if fill is None or fill >= need_ml + 0.5:
        return None
    capacity = load_syringe_table()[base["prescription"]["syringe"]].capacity_ul / 1000.0
    return float(min(capacity, math.ceil(need_ml + SYRINGE_MARGIN_ML)))


def _faults(spec: CampaignSpec, index: int, end_min: float) -> list[str]:
    """Each fault's draw: happens or not, when, and when it is undone (always all three, so one
    fault's outcome does not shift the others')."""
    rng = np.random.default_rng([spec.seed, index, 2])
    events = []
    for fault in spec.faults:
        happens = rng.random() < fault.probability
        at = round(draw_time(fault.at_min, rng, 0.0, end_min), 3)
        undo = None if fault.undo_after_min is None else round(draw_time(fault.undo_after_min, rng, 0.0, end_min), 3)
        if not happens:
            continue
        params = ",".join(f"{k}={_toml(v)}" for k, v in fault.params.items())
        events.append(f"{at!r}:{fault.action}" + (f":{params}" if params else ""))
        if undo is not None and at + undo <= end_min:
            events.append(f"{round(at + undo, 3)!r}:{UNDO[fault.action]}")
    return events


def _relative(path: str) -> str:
    p = Path(path).resolve()
    return str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd()) else str(p)


# -- one patient -----------------------------------------------------------------------
def run_task(task: Task) -> dict[str, Any]:
    """Run one patient and return their row (a plain dict: it travels back from a worker)."""
    scenario = scn.load(task.base, task.overrides, task.events)
    result = runner.run(scenario, runtime=task.runtime, seed=task.seed)
    return row(task, scenario, result)


def row(task: Task, scenario: scn.Scenario, r: runner.RunResult) -> dict[str, Any]:
    sm = report.summary(r, {})
    patient = runner.make_patient(scenario, task.seed).profile
    rx = scenario["prescription"]
    first = r.alarms[0] if r.alarms else None
    # What the pump was asked for: the dose of the weight it was given (total, ideal or adjusted).
    dose_weight_kg = rx["weight_kg"] if rx["weight_kg"] is not None else patient.weight_kg
    prescribed_ml = prescribed_volume_ml(rx, dose_weight_kg) * scenario["course"]["sessions"]
    samples = r.samples
    out: dict[str, Any] = {
        "index": task.index, "seed": task.seed, "runtime": task.runtime,
        "weight_kg": patient.weight_kg, "age_years": patient.age_years, "sex": patient.sex,
        "height_cm": round(patient.height_cm, 2), "bmi": round(body_mass_index(patient.weight_kg, patient.height_cm), 2),
        "ideal_weight_kg": round(ideal_body_weight_kg(patient.height_cm, patient.sex), 2),
        "hypertensive": patient.hypertensive, "pk_model": patient.pk_model,
        "baseline_sbp_mmhg": round(patient.baseline_sbp_mmhg, 2), "baseline_dbp_mmhg": round(patient.baseline_dbp_mmhg, 2),
        "baseline_hr_bpm": round(patient.baseline_hr_bpm, 2),
        **{key: round(getattr(patient.pk_individual, key), 5) for key in ETA_KEYS},
        "dose_mg_kg": rx["dose_mg_kg"], "duration_min": rx["duration_min"],
        "dose_weight_kg": dose_weight_kg,
        "faults": ";".join(f"{e.action}@{e.at_min:g}" for e in scenario.events),
        "prescription_result": sm["prescription_result"][0], "end_state": sm["end_state"],
        "prescribed_volume_ml": round(prescribed_ml, 4), "delivered_volume_ml": sm["delivered_volume_ml"],
        "volume_error_pct": round(100.0 * (r.delivered_ml - prescribed_ml) / prescribed_ml, 4)
        if sm["volume_error_pct"] is not None else None,
        "pump_reported_volume_ml": sm["pump_reported_volume_ml"],
        "alarms": ";".join(f"{a['code']}@{a['t_min']:.3f}" for a in r.alarms), "n_alarms": len(r.alarms),
        "first_alarm": first["code"] if first else None, "first_alarm_min": round(first["t_min"], 3) if first else None,
        "bolus_after_release_ml": sm["bolus_after_release_ml"],
        "cp_peak_ng_ml": sm["cp_peak_ng_ml"], "ce_peak_ng_ml": sm["ce_peak_ng_ml"],
        "cp_end_infusion_ng_ml": sm["cp_end_infusion_ng_ml"],
        "sbp_peak_mmhg": sm["sbp_peak_mmhg"], "sbp_rise_mmhg": round(sm["sbp_peak_mmhg"] - patient.baseline_sbp_mmhg, 2),
        "dbp_peak_mmhg": round(max((x.dbp_mmhg for x in samples), default=0.0), 1), "hr_peak_bpm": sm["hr_peak_bpm"],
        "spo2_min_pct": round(min((x.spo2_pct for x in samples), default=100.0), 1),
    }
    out.update(_time_to_alarm_per_fault(scenario.events, r.alarms))
    out.update(_pause_criterion(samples))
    out["command"] = task.command
    return out


def _time_to_alarm_per_fault(events: list[scn.Event], alarms: list[dict[str, Any]]) -> dict[str, Any]:
    """For each kind of fault: when it first struck, and the seconds to the first alarm after it."""
    out: dict[str, Any] = {}
    for action in FAULTS:
        at = next((e.at_min for e in events if e.action == action), None)
        after = [a["t_min"] for a in alarms if at is not None and a["t_min"] >= at]
        out[f"{action}_at_min"] = at
        out[f"{action}_time_to_alarm_s"] = round((after[0] - at) * 60.0, 1) if after else None
    return out


CUFF_CYCLE_MIN = 5  # the clinic's cuff cycle during an infusion, for judging the true vitals


def _pause_criterion(samples: list[runner.Sample]) -> dict[str, Any]:
    """Whether the patient's vitals met the clinic's pause criteria (the firmware's own rule,
    firmware/vitals.py, on the recorded true vitals), and when."""
    limits = json.loads(ALARM_LIMITS_PATH.read_text())["vitals"]
    guard, clock = VitalsGuard(limits), VirtualClock()
    last_bp_id = 0
    for x in samples:
        readings: dict[str, int] = {"hr": int(round(x.hr_bpm)), "spo2": int(round(x.spo2_pct))}
        bp_id = int(x.t_min // CUFF_CYCLE_MIN) + 1  # a cuff reading is judged once, as on the pump
        if bp_id != last_bp_id:
            readings.update(sbp=int(round(x.sbp_mmhg)), dbp=int(round(x.dbp_mmhg)), bp_id=bp_id)
            last_bp_id = bp_id
        if guard.report(readings, int(round(x.t_min * 60000)), clock):
            return {"pause_criterion_met": True, "pause_criterion_min": round(x.t_min, 3), "pause_reason": guard.reason}
    return {"pause_criterion_met": False, "pause_criterion_min": None, "pause_reason": None}


# -- the campaign ----------------------------------------------------------------------
def read_results(out_dir: Path) -> dict[int, dict[str, Any]]:
    """The rows already written; a torn last line (a campaign killed mid-write) is dropped."""
    path = out_dir / RESULTS
    if not path.exists():
        return {}
    rows: dict[int, dict[str, Any]] = {}
    good_bytes = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                break
            rows[r["index"]] = r
            good_bytes += len(line)
    if good_bytes != path.stat().st_size:
        with open(path, "r+b") as f:
            f.truncate(good_bytes)
    return rows


def prepare(spec: CampaignSpec, out_dir: Path) -> dict[int, dict[str, Any]]:
    """Create or reopen the output folder; refuse results made from another spec."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST
    if manifest.exists():
        old = json.loads(manifest.read_text())
        if old.get("digest") != spec.digest:
            raise SpecError(f"{out_dir}: holds results of another spec ({old.get('source')}, digest {old.get('digest')}); "
                            f"give another --out or delete the folder")
    else:
        manifest.write_text(json.dumps(describe(spec), indent=2) + "\n")
    return read_results(out_dir)


def run(spec: CampaignSpec, out_dir: Path, workers: int | None = None, scheduler: str | None = None,
        progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Run the patients not yet in out_dir, then write the tables and the report; return the rows."""
    done = prepare(spec, out_dir)
    todo = [i for i in range(spec.size) if i not in done]
    with open(out_dir / RESULTS, "a") as sink:
        def keep(r: dict[str, Any]) -> None:
            sink.write(json.dumps(r) + "\n")
            sink.flush()
            done[r["index"]] = r
            if progress is not None:
                progress(len(done), spec.size)

        if workers == 0 and scheduler is None:
            for task in tasks(spec, todo):
                keep(run_task(task))
        elif todo:
            _run_on_dask(spec, todo, keep, workers, scheduler)
    rows = [done[i] for i in range(spec.size)]
    from sim import campaign_report

    campaign_report.write(rows, spec, out_dir)
    return rows


def _run_on_dask(spec: CampaignSpec, todo: list[int], keep: Callable[[dict[str, Any]], None], workers: int | None,
                 scheduler: str | None) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        # No dashboard (distributed documents None for that; its stubs say str).
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)  # pyright: ignore[reportArgumentType]
    client = Client(cluster if cluster is not None else scheduler)
    try:
        n_workers = max(1, len(client.scheduler_info()["workers"]))
        pending = iter(todo)
        window = 4 * n_workers  # enough queued to keep every worker busy, not the whole campaign
        finished = as_completed()

        def submit_next() -> None:
            i = next(pending, None)
            if i is not None:
                finished.add(client.submit(run_task, tasks(spec, [i])[0], key=f"patient-{spec.digest}-{i}", pure=False))

        for _ in range(window):
            submit_next()
        for future in finished:
            keep(future.result())
            future.release()
            submit_next()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class Progress:
    """`patients 40/200  3.2/s  ETA 50 s` on stderr: rewritten in place on a terminal, else a
    line every 5 % of the campaign."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.t0 = time.perf_counter()
        self.start: int | None = None
        self.last_step = -1

    def __call__(self, done: int, total: int) -> None:
        if self.start is None:
            self.start = done - 1
        run_here = done - self.start
        elapsed = time.perf_counter() - self.t0
        rate = run_here / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else math.inf
        line = f"patients {done}/{total}  {rate:.2f}/s  ETA {eta:.0f} s"
        if self.tty:
            self.stream.write("\r" + line)
        elif done * 20 // total != self.last_step or done == total:
            self.last_step = done * 20 // total
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
