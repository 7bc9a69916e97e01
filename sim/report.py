"""What a run leaves behind: a time-series CSV, `summary.json`, and one figure on one time axis.

The summary's keys are documented in the README (section "Simulator outputs"); tools and
tests read them by name, so they are stable.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from sim.runner import RunResult, Sample

STATE_LEVELS = {"idle": 0, "programmed": 1, "awaiting_confirmation": 1, "paused": 2, "running": 3, "complete": 4, "alarm": 5}


def summary(r: RunResult, outputs: dict[str, str]) -> dict[str, Any]:
    s = r.samples
    peak_cp = max(s, key=lambda x: x.cp_ng_ml) if s else None
    delivered = r.delivered_ml
    pump_nl = r.final_status.get("delivered_nl")
    infused = any(sess.get("result") == "STARTED" for sess in r.sessions)
    out = {
        "scenario": r.scenario.name,
        "seed": r.seed,
        "firmware_runtime": r.firmware_version,
        "prescription": r.scenario["prescription"],
        "prescription_result": [sess.get("result", "NOT_ENTERED") for sess in r.sessions],
        "prescription_refusal": [sess.get("refusal") for sess in r.sessions],
        "prescribed_volume_ml": round(r.prescribed_ml, 4),
        "prescribed_dose_mg": round(r.prescribed_mg, 4),
        "delivered_volume_ml": round(delivered, 4),
        "delivered_dose_mg": round(delivered * float(r.scenario["prescription"]["concentration_mg_ml"]), 4),
        "volume_error_pct": round(100.0 * (delivered - r.prescribed_ml) / r.prescribed_ml, 4)
        if infused and r.prescribed_ml > 0 else None,
        "pump_reported_volume_ml": None if pump_nl is None else round(pump_nl / 1e6, 4),
        "end_state": r.final_status.get("state", "unknown"),
        "alarms": r.alarms,
        "cp_peak_ng_ml": round(peak_cp.cp_ng_ml, 2) if peak_cp else None,
        "t_cp_peak_min": round(peak_cp.t_min, 2) if peak_cp else None,
        "cp_end_infusion_ng_ml": _cp_at_end_of_infusion(r),
        "ce_peak_ng_ml": round(max((x.ce_ng_ml for x in s), default=0.0), 2),
        "sbp_peak_mmhg": round(max((x.sbp_mmhg for x in s), default=0.0), 1),
        "hr_peak_bpm": round(max((x.hr_bpm for x in s), default=0.0), 1),
        "time_to_alarm_s": r.safety.get("time_to_alarm_s"),
        "alarm_pressure_mmhg": r.safety.get("alarm_pressure_mmhg"),
        "fault_setup": r.safety.get("fault_setup"),
        "occlusion_level": r.final_status.get("occlusion"),
        "bolus_after_release_ml": r.safety.get("bolus_after_release_ml"),
        "alarm_response_s": r.safety.get("alarm_response_s"),
        "time_alarm_to_resume_s": r.safety.get("time_alarm_to_resume_s"),
        "sim_duration_min": round(r.sim_min, 3),
        "wall_s": round(r.wall_s, 3),
        "realtime_factor": round(r.sim_min * 60.0 / r.wall_s, 1) if r.wall_s > 0 else None,
        "outputs": outputs,
    }
    out["expectations"] = check_expectations(r.scenario.expect, out)
    return out


def _cp_at_end_of_infusion(r: RunResult) -> float | None:
    """Cp at the last sample where the pump was running."""
    running = [x for x in r.samples if x.state == "running"]
    return round(running[-1].cp_ng_ml, 2) if running else None


def check_expectations(expect: dict[str, Any], summary_: dict[str, Any]) -> dict[str, Any]:
    """Compare a scenario's [expect] table with the summary: end_state, prescription_result,
    alarm (a code that must appear), max_abs_volume_error_pct, no_alarms."""
    checks: dict[str, Any] = {}
    for key, want in expect.items():
        if key == "end_state":
            got: Any = summary_["end_state"]
            ok = got == want
        elif key == "prescription_result":
            got = summary_["prescription_result"][0]
            ok = got == want
        elif key == "alarm":
            got = [a["code"] for a in summary_["alarms"]]
            ok = want in got
        elif key == "no_alarms":
            got = [a["code"] for a in summary_["alarms"]]
            ok = (not got) == bool(want)
        elif key in ("max_time_to_alarm_s", "max_bolus_after_release_ml"):
            got = summary_[key[4:]]
            ok = got is not None and got <= want
        elif key == "max_abs_volume_error_pct":
            got = summary_["volume_error_pct"]
            ok = got is not None and abs(got) <= want
        else:
            got, ok = None, False
        checks[key] = {"expected": want, "actual": got, "ok": ok}
    return checks


def write_csv(samples: list[Sample], path: Path) -> None:
    fields = [f.name for f in dataclasses.fields(Sample)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for x in samples:
            w.writerow([_fmt(getattr(x, name)) for name in fields])


def _fmt(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


def plot(r: RunResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = r.samples
    t = [x.t_min for x in s]
    fig, ax = plt.subplots(5, 1, figsize=(10, 12), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2, 3, 1.4]})
    fig.suptitle(f"{r.scenario.name}: {r.scenario.description or ''}\nfirmware in {r.firmware_version}, seed {r.seed}", fontsize=10)

    ax[0].plot(t, [x.cp_ng_ml for x in s], label="plasma Cp")
    ax[0].plot(t, [x.ce_ng_ml for x in s], label="effect site Ce")
    ax[0].set_ylabel("ketamine (ng/mL)")
    ax[0].legend(loc="upper right")

    ax[1].plot(t, [x.planned_ml for x in s], "--", color="grey", label="prescribed (plan)")
    ax[1].plot(t, [x.pushed_ml for x in s], label="pushed by plunger")
    ax[1].plot(t, [x.delivered_ml for x in s], label="delivered to patient")
    ax[1].set_ylabel("volume (mL)")
    ax[1].legend(loc="lower right")

    ax[2].plot(t, [x.pressure_mmhg for x in s], color="tab:red")
    ax[2].set_ylabel("line pressure (mmHg)")

    ax[3].plot(t, [x.sbp_mmhg for x in s], label="SBP (mmHg)")
    ax[3].plot(t, [x.dbp_mmhg for x in s], label="DBP (mmHg)")
    ax[3].plot(t, [x.hr_bpm for x in s], label="HR (bpm)")
    ax[3].plot(t, [x.spo2_pct for x in s], label="SpO2 (%)")
    ax[3].set_ylabel("vitals")
    ax[3].legend(loc="upper right", ncol=4, fontsize=8)

    ax[4].step(t, [STATE_LEVELS.get(x.state, 0) for x in s], where="post", color="black")
    ax[4].set_yticks(range(6), ["idle", "prog.", "paused", "running", "complete", "alarm"], fontsize=7)
    ax[4].set_ylabel("pump")
    for a in r.alarms:
        for axis in ax:
            axis.axvline(a["t_min"], color="red", alpha=0.4)
        ax[4].annotate(a["code"], (a["t_min"], 5), fontsize=7, color="red", xytext=(3, -10), textcoords="offset points")
    ax[-1].set_xlabel("time (min)")
    for axis in ax:
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_outputs(r: RunResult, out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "timeseries.csv", "summary": out_dir / "summary.json", "figure": out_dir / "figure.png"}
    write_csv(r.samples, paths["csv"])
    plot(r, paths["figure"])
    result = summary(r, {k: str(v) for k, v in paths.items()})
    paths["summary"].write_text(json.dumps(result, indent=2) + "\n")
    return result


def human(summary_: dict[str, Any]) -> str:
    """A short summary for a person at a terminal."""
    s = summary_
    lines = [
        f"scenario {s['scenario']} (seed {s['seed']}) with the firmware in {s['firmware_runtime']}",
        f"  prescription: {', '.join(map(_result, s['prescription_result'], s['prescription_refusal']))}; "
        f"pump ended {s['end_state']}",
        f"  prescribed {s['prescribed_volume_ml']:.3f} mL ({s['prescribed_dose_mg']:.2f} mg); delivered to the patient "
        f"{s['delivered_volume_ml']:.3f} mL ({s['delivered_dose_mg']:.2f} mg)"
        + (f", error {s['volume_error_pct']:+.3f} %" if s["volume_error_pct"] is not None else ""),
        f"  pump reported {s['pump_reported_volume_ml']} mL",
        f"  Cp peak {s['cp_peak_ng_ml']} ng/mL at {s['t_cp_peak_min']} min; Ce peak {s['ce_peak_ng_ml']} ng/mL; "
        f"SBP peak {s['sbp_peak_mmhg']} mmHg; HR peak {s['hr_peak_bpm']} bpm",
        f"  alarms: {', '.join(a['code'] + ' at ' + format(a['t_min'], '.1f') + ' min' for a in s['alarms']) or 'none'}"
        + (f"; {s['time_to_alarm_s']} s from the fault, line at {s['alarm_pressure_mmhg']} mmHg (the plant's line "
           "pressure; the pump's own reading adds the plunger's friction)" if s["time_to_alarm_s"] is not None else "")
        + (f"; bolus after release {s['bolus_after_release_ml']} mL" if s["bolus_after_release_ml"] is not None else ""),
        *([f"  set-up of that figure: {s['fault_setup']}, pump occlusion level {s['occlusion_level']}"] if s["fault_setup"] else []),
        f"  {s['sim_duration_min']:.0f} simulated min in {s['wall_s']:.2f} s wall ({s['realtime_factor']}x real time)",
    ]
    failed = [k for k, v in s["expectations"].items() if not v["ok"]]
    if s["expectations"]:
        lines.append("  expectations: " + ("all met" if not failed else "NOT MET: " + ", ".join(
            f"{k} (expected {s['expectations'][k]['expected']}, got {s['expectations'][k]['actual']})" for k in failed)))
    lines.append(f"  files: {s['outputs']['csv']}, {s['outputs']['summary']}, {s['outputs']['figure']}")
    return "\n".join(lines)


def _result(result: str, refusal: dict[str, Any] | None) -> str:
    """STARTED, or the pump's refusal with the field, the value and the range it allows."""
    if refusal is None:
        return result
    said = f": {refusal['field']}={refusal['value']}" if refusal["field"] else ""
    said += f", allowed {refusal['allowed']}" if refusal["allowed"] else ""
    return f"{result} ({refusal['command']} refused{said})"


class Progress:
    """A one-line progress bar on a terminal (nothing when output is not a terminal)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, done_min: float, total_min: float) -> None:
        if not self.enabled:
            return
        frac = min(1.0, done_min / total_min) if total_min else 1.0
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r[{bar:<30}] {100 * frac:5.1f} %  {done_min:8.1f} / {total_min:.0f} simulated min")
        self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\n")
