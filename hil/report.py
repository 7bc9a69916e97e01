"""The HIL report of one acceptance run: a self-contained HTML page an auditor can sign off.

Each run writes a fresh folder `<root>/<UTC date-time>/` (the root is `--hil-report`, default
out/hil) and points `<root>/latest` at it, so a `-k` run never mixes with an older one's plots.
The folder holds:

- index.html: the verdict and the counts first; then what was tested (date, operator, git
  commit, firmware version and build hash, board, balance model, serial number and last
  calibration, drug-library and syringe-table versions, occlusion setting, seed); the summary
  plots with their limit lines; one row per test with its outcome, duration, what it checks,
  the measured value against its tolerance and a link to its serial log; for a failure the
  message and the tail of the serial log inline; for a skip its reason;
- junit.xml (when asked for) with the same run properties, and per test the measured values;
- logs/<test>.log, one serial log per test; report.json, the same facts as data; the figures
  as PNG and the measured rows as CSV.

Tests add to it through the `hil_report` fixture: `measure()` for a value against its
tolerance, `add()` for a table, figures and CSVs. The page has no external asset (images are
files beside it), and every text that came from a test, a pump or a balance is escaped.
"""

from __future__ import annotations

import csv
import html
import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

LOG_TAIL_LINES = 30
LATEST = "latest"
OUTCOMES = ("failed", "error", "passed", "skipped")
VERDICT_COLOURS = {"PASS": "#1b7f3b", "FAIL": "#b3261e", "INCOMPLETE": "#8a6d00"}
OUTCOME_COLOURS = {"passed": "#1b7f3b", "failed": "#b3261e", "error": "#b3261e", "skipped": "#8a6d00"}


@dataclass
class Measurement:
    """One measured value and the limits it is held to (None: no limit on that side)."""

    quantity: str
    value: float
    unit: str
    low: float | None
    high: float | None
    source: str = ""

    @property
    def ok(self) -> bool:
        return (self.low is None or self.value >= self.low) and (self.high is None or self.value <= self.high)

    def text(self) -> str:
        return f"{self.quantity} = {_fmt(self.value)} {self.unit}".rstrip()

    def limits(self) -> str:
        """'-2 .. +2 %', '<= 300 s'."""
        if self.low is not None and self.high is not None:
            span = f"{self.low:+g} .. {self.high:+g}" if self.low == -self.high else f"{self.low:g} .. {self.high:g}"
        elif self.high is not None:
            span = f"<= {self.high:g}"
        else:
            span = f">= {self.low:g}"
        return f"{span} {self.unit}".rstrip()

    def tolerance(self) -> str:
        return self.limits() + (f" ({self.source})" if self.source else "")


@dataclass
class Entry:
    title: str
    text: str = ""
    rows: list[dict] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    csvs: list[str] = field(default_factory=list)
    test: str = ""


@dataclass
class TestRecord:
    """What the page shows of one test."""

    nodeid: str
    checks: str = ""
    outcome: str = "not run"
    duration_s: float = 0.0
    message: str = ""
    log: str = ""
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def name(self) -> str:
        """'test_delivery.py::test_x[70-0.5]'."""
        return self.nodeid.rsplit("/", 1)[-1]

    @property
    def file(self) -> str:
        return self.name.split("::", 1)[0]

    @property
    def function(self) -> str:
        return self.name.rsplit("::", 1)[-1].split("[", 1)[0]

    @property
    def params(self) -> str:
        _, bracket, rest = self.name.rsplit("::", 1)[-1].partition("[")
        return bracket + rest


def iso_utc(epoch_s: float) -> str:
    """2026-11-29T23:40:01.123Z: the one time format of the report and the serial logs."""
    stamp = datetime.fromtimestamp(epoch_s, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def verdict(records: list[TestRecord]) -> str:
    """PASS only if every test ran and passed or was skipped, and at least one passed."""
    outcomes = [r.outcome for r in records]
    if any(o in ("failed", "error") for o in outcomes):
        return "FAIL"
    if not outcomes or "not run" in outcomes or "passed" not in outcomes:
        return "INCOMPLETE"
    return "PASS"


def counts(records: list[TestRecord]) -> dict[str, int]:
    return {o: sum(r.outcome == o for r in records) for o in OUTCOMES}


class HilReport:
    """The report of one run; its folder is made on first use under `root`."""

    def __init__(self, root: Path, folder: Path | None = None, clock=time.time) -> None:
        self.root = Path(folder).parent if folder else Path(root)
        self.started_s = clock()
        self._folder: Path | None = Path(folder) if folder else None
        self.entries: list[Entry] = []
        self.records: dict[str, TestRecord] = {}
        self.current_test = ""

    @property
    def folder(self) -> Path:
        """<root>/<UTC start>/, made the first time anything is written (or the one given)."""
        if self._folder is None:
            self._folder = new_run_folder(self.root, self.started_s)
        self._folder.mkdir(parents=True, exist_ok=True)
        return self._folder

    def path(self, name: str) -> Path:
        """A file or folder in the run's folder (`logs` is made on first use)."""
        if name == "logs":
            (self.folder / name).mkdir(exist_ok=True)
        return self.folder / name

    def record(self, nodeid: str) -> TestRecord:
        return self.records.setdefault(nodeid, TestRecord(nodeid))

    def measure(self, quantity: str, value: float, unit: str, low: float | None = None, high: float | None = None,
                source: str = "") -> Measurement:
        """The current test measured `value` and holds it within [low, high]; `source` says why."""
        m = Measurement(quantity, float(value), unit, low, high, source)
        self.record(self.current_test).measurements.append(m)
        return m

    def add(self, title: str, text: str = "", rows: list[dict] | None = None, figures=(), csvs=()) -> Entry:
        e = Entry(title, text, list(rows or []), [str(f) for f in figures], [str(c) for c in csvs], self.current_test)
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
        """index.html and report.json; then `latest` points at this run."""
        from hil.report_plots import summary_figures

        records = list(self.records.values())
        summary = summary_figures(self)
        page = self.path("index.html")
        page.write_text(render_page(properties, records, summary, self.entries, self.folder))
        facts = {"verdict": verdict(records), "counts": counts(records), "properties": properties,
                 "tests": [asdict(r) for r in records], "entries": [asdict(e) for e in self.entries]}
        self.path("report.json").write_text(json.dumps(facts, indent=2, default=str))
        point_latest(self.root, self.folder)
        return page


def new_run_folder(root: Path, started_s: float) -> Path:
    """A folder no earlier run used: <root>/20261129T234001Z, or with -2, -3... on a clash."""
    stamp = datetime.fromtimestamp(started_s, tz=timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        folder = root / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise RuntimeError(f"no free run folder under {root} for {stamp}")


def point_latest(root: Path, folder: Path) -> None:
    """<root>/latest -> the run's folder (relative, replaced atomically)."""
    link = root / LATEST
    tmp = root / f".{LATEST}.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(folder.name)
    os.replace(tmp, link)


# The page ----------------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #bbb;padding:3px 8px;vertical-align:top}
th{background:#eee;text-align:left}td.num{text-align:right}
.verdict{font-size:2em;font-weight:bold;color:#fff;padding:0.3em 0.6em;display:inline-block;border-radius:4px}
.outcome{font-weight:bold}pre{background:#f6f6f6;border:1px solid #ddd;padding:0.5em;overflow-x:auto;font-size:12px}
.bad{color:#b3261e;font-weight:bold}.good{color:#1b7f3b}img{max-width:100%;border:1px solid #ddd}
#tests td.name{min-width:13em;max-width:20em;overflow-wrap:anywhere}#tests td.checks{min-width:18em}.source{color:#666;font-size:85%}
"""


def render_page(properties: dict, records: list[TestRecord], summary: list[str], entries: list[Entry], folder: Path) -> str:
    v = verdict(records)
    n = counts(records)
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>HIL acceptance report: {v}</title><style>{STYLE}</style></head><body>",
             "<h1>HIL acceptance report</h1>",
             f"<p><span class='verdict' id='verdict' style='background:{VERDICT_COLOURS[v]}'>{v}</span></p>",
             f"<p id='counts'>{len(records)} test{'' if len(records) == 1 else 's'}: "
             + ", ".join(f"{n[o]} {o}" for o in OUTCOMES) + "</p>",
             "<h2>What was tested</h2><table id='properties'>"]
    parts += [f"<tr><th>{_e(k.replace('_', ' '))}</th><td>{_e(v_)}</td></tr>" for k, v_ in properties.items()]
    parts.append("</table>")
    parts.append(_tests_table(records, folder))
    linked = {Path(r.log).name for r in records if r.log}
    others = [p for p in sorted((folder / "logs").glob("*.log")) if p.name not in linked]
    if others:  # e.g. the pump's identification before the first test: every serial log is linked
        parts.append("<p>other serial logs: " + ", ".join(
            f"<a href='{_e(_rel(str(p), folder))}'>{_e(p.name)}</a>" for p in others) + "</p>")
    if summary:
        parts.append("<h2>Summary plots</h2><p>Each bar is one test; the red dashed lines are the limits.</p>")
        parts += [_file(f, folder) for f in summary]
    parts.append(_details(records, entries, folder))
    parts.append("</body></html>")
    return "\n".join(parts)


def _tests_table(records: list[TestRecord], folder: Path) -> str:
    rows = ["<h2>Tests</h2><table id='tests'><tr><th>test</th><th>checks</th><th>outcome</th><th>duration</th>"
            "<th>measured</th><th>tolerance</th><th>serial log</th></tr>"]
    for r in records:
        colour = OUTCOME_COLOURS.get(r.outcome, "#222")
        measured = "<br>".join(f"<span class='{'good' if m.ok else 'bad'}'>{_e(m.text())}</span>" for m in r.measurements)
        tolerance = "<br>".join(f"{_e(m.limits())}<br><span class='source'>{_e(m.source)}</span>" for m in r.measurements)
        if r.outcome == "skipped":
            measured = _e("skipped: " + r.message)
        elif r.outcome in ("failed", "error"):
            measured = f"<span class='bad'>{_e(r.message.strip().splitlines()[0][:300] if r.message.strip() else r.outcome)}</span>"
        log = f"<a href='{_e(_rel(r.log, folder))}'>log</a>" if r.log else ""
        rows.append(f"<tr class='test' data-outcome='{_e(r.outcome)}'><td class='name'><a href='#{_anchor(r.nodeid)}'>"
                    f"{_e(r.function)}</a><br><span class='source'>{_e(r.params)} {_e(r.file)}</span></td><td class='checks'>{_e(r.checks)}</td><td class='outcome' style='color:{colour}'>{_e(r.outcome)}</td>"
                    f"<td class='num'>{r.duration_s:.1f} s</td><td>{measured}</td><td>{tolerance}</td><td>{log}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _details(records: list[TestRecord], entries: list[Entry], folder: Path) -> str:
    parts = ["<h2>Details</h2>"]
    by_test: dict[str, list[Entry]] = {}
    for e in entries:
        by_test.setdefault(e.test, []).append(e)
    for r in records:
        parts.append(f"<h3 id='{_anchor(r.nodeid)}'>{_e(r.name)}: <span style='color:{OUTCOME_COLOURS.get(r.outcome, '#222')}'>"
                     f"{_e(r.outcome)}</span></h3><p>{_e(r.nodeid)}</p>")
        if r.outcome in ("failed", "error"):
            parts.append(f"<p class='bad'>failure</p><pre class='failure'>{_e(r.message)}</pre>")
            if r.log:
                parts.append(f"<p>last {LOG_TAIL_LINES} lines of the <a href='{_e(_rel(r.log, folder))}'>serial log</a>:</p>"
                             f"<pre class='log-tail'>{_e(log_tail(Path(r.log)))}</pre>")
        elif r.outcome == "skipped":
            parts.append(f"<p>skipped: {_e(r.message)}</p>")
        parts += [_entry(e, folder) for e in by_test.pop(r.nodeid, [])]
    for rest in by_test.values():
        parts += [_entry(e, folder) for e in rest]
    return "\n".join(parts)


def _entry(e: Entry, folder: Path) -> str:
    parts = [f"<h4>{_e(e.title)}</h4>"]
    if e.text:
        parts.append(f"<p>{_e(e.text)}</p>")
    if e.rows:
        keys = list(e.rows[0])
        parts.append("<table><tr>" + "".join(f"<th>{_e(k)}</th>" for k in keys) + "</tr>")
        parts += ["<tr>" + "".join(f"<td class='num'>{_e(_fmt(r.get(k)))}</td>" for k in keys) + "</tr>" for r in e.rows]
        parts.append("</table>")
    parts += [_file(f, folder) for f in e.figures + e.csvs]
    return "\n".join(parts)


def _file(path: str, folder: Path) -> str:
    """A figure shown in the page, or a link to a data file."""
    if Path(path).suffix == ".png":
        return f"<p><img src='{_e(_rel(path, folder))}' alt='{_e(Path(path).stem)}'></p>"
    return f"<p>raw samples: <a href='{_e(_rel(path, folder))}'>{_e(Path(path).name)}</a></p>"


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="backslashreplace").splitlines()
    except OSError as e:
        return f"(serial log not readable: {e})"
    return "\n".join(text[-lines:]) if text else "(serial log is empty: nothing was sent or received)"


def _rel(path: str, folder: Path) -> str:
    """A link relative to the page (the folder can be moved or archived whole)."""
    p = Path(path)
    try:
        return p.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return p.resolve().as_uri()


def _anchor(nodeid: str) -> str:
    return "t-" + "".join(c if c.isalnum() else "-" for c in nodeid)


def _e(v) -> str:
    return html.escape(str(v), quote=True)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)
