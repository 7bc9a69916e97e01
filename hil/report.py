"""The HIL report folder: an HTML page with the figures, tables and raw samples of a run.

Tests add entries through the `hil_report` fixture; the page is written when the session ends,
beside the JUnit XML, so a QA tester opens one file and sees what was measured and against which
tolerance.
"""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Entry:
    title: str
    text: str = ""
    rows: list[dict] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    csvs: list[str] = field(default_factory=list)


class HilReport:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries: list[Entry] = []

    def path(self, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / name

    def add(self, title: str, text: str = "", rows: list[dict] | None = None, figures=(), csvs=()) -> Entry:
        e = Entry(title, text, list(rows or []), [str(f) for f in figures], [str(c) for c in csvs])
        self.entries.append(e)
        return e

    def write_csv(self, name: str, rows: list[dict]) -> Path:
        p = self.path(name)
        with open(p, "w", newline="") as f:
            if rows:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
        return p

    def write(self, properties: dict) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._summary_figures()
        parts = ["<!doctype html><meta charset='utf-8'><title>HIL acceptance report</title>",
                 "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse}"
                 "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}</style>",
                 "<h1>HIL acceptance report</h1><table>"]
        parts += [f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in properties.items()]
        parts.append("</table>")
        for e in self.entries:
            parts.append(f"<h2>{html.escape(e.title)}</h2>")
            if e.text:
                parts.append(f"<p>{html.escape(e.text)}</p>")
            if e.rows:
                keys = list(e.rows[0])
                parts.append("<table><tr>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys) + "</tr>")
                for r in e.rows:
                    parts.append("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k)))}</td>" for k in keys) + "</tr>")
                parts.append("</table>")
            for fig in e.figures:
                parts.append(f"<p><img src='{html.escape(Path(fig).name)}' style='max-width:100%'></p>")
            for c in e.csvs:
                parts.append(f"<p>raw samples: <a href='{html.escape(Path(c).name)}'>{html.escape(Path(c).name)}</a></p>")
        page = self.path("index.html")
        page.write_text("\n".join(parts))
        self.path("report.json").write_text(json.dumps([e.__dict__ for e in self.entries], indent=2, default=str))
        return page


    def _summary_figures(self) -> None:
        """One plot across the delivery matrix and one across the occlusion tests, first on the page."""
        delivery = [(e.title.split(": ", 1)[-1], r) for e in self.entries for r in e.rows if "error_pct" in r]
        occlusion = [r for e in self.entries for r in e.rows if "time_to_alarm_s" in r]
        figures = []
        if delivery:
            figures.append(self._bar_plot("delivery.png", [t for t, _ in delivery], [r["error_pct"] for _, r in delivery],
                                          "delivered - prescribed (%)", "Delivered volume by the balance", band=2.0))
        if occlusion:
            labels = ["%g mL/h" % r["rate_ml_h"] for r in occlusion]
            figures.append(self._bar_plot("occlusion_time.png", labels, [r["time_to_alarm_s"] for r in occlusion],
                                          "time to alarm (s)", "Occlusion: time from closing the line to the alarm"))
            figures.append(self._bar_plot("occlusion_bolus.png", labels, [r["bolus_after_release_ml"] for r in occlusion],
                                          "bolus after release (mL)", "Occlusion: volume released when the line reopens",
                                          limit=occlusion[0].get("bolus_limit_ml")))
        csvs = []
        if delivery:
            csvs.append(str(self.write_csv("delivery.csv", [{"case": t, **r} for t, r in delivery])))
        if occlusion:
            csvs.append(str(self.write_csv("occlusion.csv", occlusion)))
        if figures:
            self.entries.insert(0, Entry("Summary", "Each bar is one test; dashed lines are the limits.", figures=figures,
                                         csvs=csvs))

    def _bar_plot(self, name: str, labels: list, values: list, ylabel: str, title: str, band=None, limit=None) -> str:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 0.9 + 0.35 * len(labels) + 2))
        bars = ax.barh(range(len(values)), values, color="tab:blue")
        ax.bar_label(bars, labels=["%.3g" % v for v in values], fontsize=8, padding=3)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.invert_yaxis()
        for x in ([band, -band] if band else []) + ([limit] if limit else []):
            ax.axvline(x, color="tab:red", linestyle="--")
        ax.set_xlabel(ylabel)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        path = self.path(name)
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return str(path)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)
