"""What a campaign leaves: one row per patient (Parquet and CSV) and a self-contained HTML report.

The report shows the distributions a reader checks first, beside the published figures they
should match: the delivered volume's error, Cp at the end of the infusion (about 185 ng/mL
reported for 0.5 mg/kg over 40 min), the peak SBP rise (+16 mmHg, SD 11, in the largest
series), and for each injected fault how often and how fast the pump alarmed; then the worst
cases, each with the command that re-runs it alone. Plots are PNG images inside the page.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path
from typing import Any, Sequence

from sim.campaign_spec import FAULTS, CampaignSpec

PUBLISHED_CP_END_NG_ML = 185.0  # docs/references.md#pk
PUBLISHED_SBP_RISE_MMHG = (16.0, 11.0)  # mean, SD; docs/references.md#vitals
WORST = 5


def write(rows: list[dict[str, Any]], spec: CampaignSpec, out_dir: Path) -> dict[str, Path]:
    paths = {"parquet": out_dir / "patients.parquet", "csv": out_dir / "patients.csv", "report": out_dir / "report.html"}
    write_parquet(rows, paths["parquet"])
    write_csv(rows, paths["csv"])
    paths["report"].write_text(html_report(rows, spec))
    return paths


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
        w.writeheader()
        w.writerows(rows)


def _values(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in rows if r.get(key) is not None]


def fault_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per kind of fault: how many patients had it, how many alarmed after it, how fast."""
    out = []
    for action in FAULTS:
        hit = [r for r in rows if r[f"{action}_at_min"] is not None]
        if not hit:
            continue
        times = sorted(r[f"{action}_time_to_alarm_s"] for r in hit if r[f"{action}_time_to_alarm_s"] is not None)
        out.append({"fault": action, "patients": len(hit), "alarmed": len(times),
                    "median_s": times[len(times) // 2] if times else None, "worst_s": times[-1] if times else None})
    return out


def worst_cases(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The patients at the bad end of each measure."""
    def top(key: str, rank=lambda v: v) -> list[dict[str, Any]]:
        return sorted((r for r in rows if r.get(key) is not None), key=lambda r: rank(r[key]), reverse=True)[:WORST]

    cases = [("largest |volume error| (%)", "volume_error_pct", top("volume_error_pct", abs)),
             ("highest Cp at the end of the infusion (ng/mL)", "cp_end_infusion_ng_ml", top("cp_end_infusion_ng_ml")),
             ("largest SBP rise (mmHg)", "sbp_rise_mmhg", top("sbp_rise_mmhg")),
             ("largest bolus after an occlusion is released (mL)", "bolus_after_release_ml", top("bolus_after_release_ml"))]
    cases += [(f"slowest alarm after {a} (s)", f"{a}_time_to_alarm_s", top(f"{a}_time_to_alarm_s")) for a in FAULTS]
    return [(title, [dict(r, value=r[key]) for r in found]) for title, key, found in cases if found]


def _figure(draw) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    draw(ax)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _hist(values: list[float], xlabel: str, marks: Sequence[tuple[float, str]] = ()) -> str:
    def draw(ax):
        ax.hist(values, bins=max(5, min(40, len(values) // 4 or 1)), color="tab:blue", alpha=0.8)
        for x, label in marks:
            ax.axvline(x, color="red", linestyle="--", label=label)
        if marks:
            ax.legend(fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("patients")
    return _figure(draw) if values else "<p>no values</p>"


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    m = sum(values) / len(values)
    sd = (sum((v - m) ** 2 for v in values) / max(1, len(values) - 1)) ** 0.5
    return f"{m:.2f} (SD {sd:.2f}, n {len(values)})"


def _table(head: list[str], body: list[list[Any]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r) + "</tr>"
                   for r in body)
    return f"<table><tr>{cells}</tr>{rows}</table>"


def html_report(rows: list[dict[str, Any]], spec: CampaignSpec) -> str:
    err, cp_end = _values(rows, "volume_error_pct"), _values(rows, "cp_end_infusion_ng_ml")
    rise = _values(rows, "sbp_rise_mmhg")
    faults = fault_summary(rows)
    paused = [r for r in rows if r["pause_criterion_met"]]
    mean_rise, sd_rise = PUBLISHED_SBP_RISE_MMHG
    parts = [
        f"<h1>Campaign {html.escape(spec.name)}</h1>",
        f"<p>{len(rows)} patients, seed {spec.seed}, base scenario {html.escape(spec.base)}, firmware in "
        f"{html.escape(spec.runtime)}; spec {html.escape(spec.source)} (digest {spec.digest}).</p>",
        "<h2>Delivered vs prescribed volume</h2>", f"<p>error %: {_mean_sd(err)}</p>",
        _hist(err, "volume error (%)", [(0.0, "exact")]),
        "<h2>Cp at the end of the infusion</h2>",
        f"<p>{_mean_sd(cp_end)} ng/mL; published about {PUBLISHED_CP_END_NG_ML:.0f} ng/mL for 0.5 mg/kg over 40 min.</p>",
        _hist(cp_end, "Cp at end of infusion (ng/mL)", [(PUBLISHED_CP_END_NG_ML, "published ~185")]),
        "<h2>Peak SBP rise</h2>",
        f"<p>{_mean_sd(rise)} mmHg; published +{mean_rise:.0f} (SD {sd_rise:.0f}) mmHg. "
        f"Pause criteria met in {len(paused)} of {len(rows)} patients.</p>",
        _hist(rise, "peak SBP rise (mmHg)", [(mean_rise, "published mean +16"), (mean_rise + sd_rise, "+1 SD")]),
        "<h2>Alarms per fault</h2>",
        _table(["fault", "patients", "alarmed", "median time to alarm (s)", "slowest (s)"],
               [[f["fault"], f["patients"], f["alarmed"], f["median_s"], f["worst_s"]] for f in faults])
        if faults else "<p>no faults injected</p>",
        _figure(lambda ax: (ax.bar([f["fault"] for f in faults], [f["alarmed"] / f["patients"] for f in faults]),
                            ax.set_ylabel("fraction that alarmed"), ax.tick_params(axis="x", labelsize=7)))
        if faults else "",
        "<h2>Worst cases</h2>",
    ]
    for title, found in worst_cases(rows):
        parts.append(f"<h3>{html.escape(title)}</h3>")
        parts.append(_table(["patient", "value", "weight kg", "dose mg/kg", "faults", "alarms", "re-run alone"],
                            [[r["index"], r["value"], r["weight_kg"], r["dose_mg_kg"], r["faults"], r["alarms"],
                              r["command"]] for r in found]))
    style = ("body{font-family:sans-serif;max-width:70em;margin:1em auto}table{border-collapse:collapse;font-size:80%}"
             "td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}td:last-child{font-family:monospace;"
             "word-break:break-all}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Campaign {html.escape(spec.name)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
