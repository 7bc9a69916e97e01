"""The two pictures of an IEC 60601-2-24 accuracy report, drawn as PNG files.

The start-up curve shows the flow of every 30-s sample over the whole 2-h test against
the set rate and its +/- limit band, so a slow start or a periodic ripple from the lead
screw is plain to see. The trumpet curve shows Ep(max) and Ep(min) against the
observation window P, with the overall mean error A and the +/- limit: a pump whose
2-min windows swing +/-8 % but whose 31-min windows stay within +/-1 % draws a trumpet.

    result = analyse(mass_g, rate_ml_h=5.0)
    plot_startup_curve(result, out / "startup.png", "run7.csv")
    plot_trumpet_curve(result, out / "trumpet.png", "run7.csv")

Figures are drawn with matplotlib's Agg canvas directly (no pyplot, no display needed).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hil.iec60601 import PROTOCOL, AccuracyResult

FIGURE_SIZE_IN = (9.0, 5.5)
DPI = 110


def plot_startup_curve(
    result: AccuracyResult, path: Path, source_name: str, limit_pct: float = PROTOCOL.flow_limit_pct
) -> Path:
    """Qi against time over the whole recording, with the set rate and its limit band."""
    figure, axes = _new_figure()
    rate = result.rate_ml_h
    axes.axvspan(result.analysis_start_min, result.analysis_end_min, color="0.93", label="analysis period (second hour)")
    axes.step(result.t_min, result.flow_ml_h, where="post", color="tab:blue", linewidth=1.0, label="flow Qi per sample")
    axes.axhline(rate, color="black", linewidth=1.2, label=f"set rate r = {rate:g} mL/h")
    for sign in (+1, -1):
        axes.axhline(
            rate * (1 + sign * limit_pct / 100),
            color="tab:red",
            linestyle="--",
            linewidth=1.0,
            label=f"r +/- {limit_pct:g} %" if sign > 0 else None,
        )
    axes.set_xlabel("time since start t (min)")
    axes.set_ylabel("flow Qi (mL/h)")
    axes.set_xlim(0, max(result.t_min[-1], result.analysis_end_min))
    axes.set_ylim(bottom=min(0.0, min(result.flow_ml_h)))
    axes.set_title(f"Start-up curve, r = {rate:g} mL/h, S = {result.sample_interval_min:g} min - {source_name}")
    axes.legend(loc="lower right", fontsize="small")
    return _save(figure, path)


def plot_trumpet_curve(
    result: AccuracyResult, path: Path, source_name: str, limit_pct: float = PROTOCOL.flow_limit_pct
) -> Path:
    """Ep(max) and Ep(min) against the observation window, with A and the +/- limit."""
    figure, axes = _new_figure()
    windows = [point.window_min for point in result.trumpet]
    ep_max = [point.ep_max_pct for point in result.trumpet]
    ep_min = [point.ep_min_pct for point in result.trumpet]
    axes.fill_between(windows, ep_min, ep_max, color="tab:blue", alpha=0.12)
    axes.plot(windows, ep_max, "^-", color="tab:blue", label="Ep(max)")
    axes.plot(windows, ep_min, "v-", color="tab:orange", label="Ep(min)")
    axes.axhline(result.mean_error_pct, color="black", linestyle="-.", label=f"A = {result.mean_error_pct:+.2f} %")
    axes.axhline(0.0, color="0.6", linewidth=0.8)
    for sign in (+1, -1):
        axes.axhline(sign * limit_pct, color="tab:red", linestyle="--", label=f"A limit +/- {limit_pct:g} %" if sign > 0 else None)
    trumpet_limits = [PROTOCOL.trumpet_limit_pct(window) for window in windows]
    for sign in (+1, -1):
        axes.plot(windows, [sign * limit for limit in trumpet_limits], ":", marker="_", markersize=14, color="tab:purple",
                  label="Ep limit per window" if sign > 0 else None)
    for window, high, low in zip(windows, ep_max, ep_min):
        axes.annotate(f"{high:+.2f}", (window, high), textcoords="offset points", xytext=(0, 7), ha="center", fontsize="x-small")
        axes.annotate(f"{low:+.2f}", (window, low), textcoords="offset points", xytext=(0, -13), ha="center", fontsize="x-small")
    span = max([limit_pct, *trumpet_limits, *map(abs, ep_max), *map(abs, ep_min)]) * 1.25
    axes.set_ylim(-span, span)
    axes.set_xticks(windows)
    axes.set_xlabel("observation window P (min)")
    axes.set_ylabel("percentage error of the window's mean flow (%)")
    period = f"{result.analysis_start_min:g}-{result.analysis_end_min:g} min"
    axes.set_title(f"Trumpet curve over {period}, r = {result.rate_ml_h:g} mL/h - {source_name}")
    axes.legend(loc="upper right", fontsize="small")
    return _save(figure, path)


def _new_figure():
    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.grid(True, color="0.85", linewidth=0.6)
    return figure, axes


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


# The summary of an acceptance run ----------------------------------------------------------------


def summary_figures(report) -> list[str]:
    """One bar chart per measured quantity across the run's tests (each bar one test, its limits
    drawn beside it), then the delivery and occlusion rows as CSV; returns the files' paths."""
    by_quantity: dict[tuple[str, str], list] = {}
    for record in report.records.values():
        for m in record.measurements:
            by_quantity.setdefault((m.quantity, m.unit), []).append((_case_label(record.nodeid), m))
    files = [str(plot_measurements(report.path(_file_name(q) + ".png"), q, unit, rows))
             for (q, unit), rows in by_quantity.items()]
    delivery = [(e.title.split(": ", 1)[-1], r) for e in report.entries for r in e.rows if "error_pct" in r]
    occlusion = [r for e in report.entries for r in e.rows if "time_to_alarm_s" in r]
    if delivery:
        files.append(str(report.write_csv("delivery.csv", [{"case": t, **r} for t, r in delivery])))
    if occlusion:
        files.append(str(report.write_csv("occlusion.csv", occlusion)))
    return files


def plot_measurements(path: Path, quantity: str, unit: str, rows: list) -> Path:
    """Horizontal bars of each test's value, a dot at its tip (so a 0.01 % bar still shows), the
    value written beside it, and each test's limits as red dashed ticks across its bar. The scale
    always includes the limits, so a value is seen against them."""
    figure = Figure(figsize=(FIGURE_SIZE_IN[0], 1.6 + 0.45 * len(rows)), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.grid(True, axis="x", color="0.85", linewidth=0.6)
    values = [m.value for _, m in rows]
    colours = ["tab:blue" if m.ok else "tab:red" for _, m in rows]
    y = list(range(len(rows)))
    labels = [label for label, _ in rows]
    bases = {label.split(" [", 1)[0] for label in labels}
    if len(bases) == 1 and all(" [" in label for label in labels):  # one test function: its cases name the bars
        labels = ["[" + label.split(" [", 1)[1] for label in labels]
        axes.set_ylabel(bases.pop(), fontsize=8)
    axes.barh(y, values, color=colours, height=0.6)
    axes.plot(values, y, "o", color="black", markersize=4, zorder=3)
    limits = [x for _, m in rows for x in (m.low, m.high) if x is not None]
    for i, (_, m) in enumerate(rows):
        for limit in (m.low, m.high):
            if limit is not None:
                axes.plot([limit, limit], [i - 0.45, i + 0.45], color="tab:red", linestyle="--", linewidth=1.5,
                          label="limit" if not axes.get_legend_handles_labels()[1] else None)
    reach = max([abs(v) for v in values + limits] or [1.0]) * 1.25 or 1.0
    low_edge = -reach if min(values + limits + [0.0]) < 0 else 0.0
    axes.set_xlim(low_edge, reach)
    for i, value in enumerate(values):
        axes.annotate(f"{value:.3g} {unit}", (value, i), textcoords="offset points", xytext=(6, 4), fontsize=8)
    axes.axvline(0.0, color="0.3", linewidth=0.8)
    axes.set_yticks(y, labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(f"{quantity} ({unit})")
    axes.set_title(quantity)
    if limits:
        axes.legend(loc="lower right", fontsize="small")
    return _save(figure, path)


def _case_label(nodeid: str) -> str:
    """'test_delivery.py::test_x[70-0.5-10-40-bd]' -> 'x [70-0.5-10-40-bd]'."""
    name = nodeid.rsplit("::", 1)[-1]
    base, _, params = name.partition("[")
    base = base.removeprefix("test_")
    return f"{base} [{params}" if params else base


def _file_name(quantity: str) -> str:
    return "summary_" + "".join(c if c.isalnum() else "_" for c in quantity.lower()).strip("_")
