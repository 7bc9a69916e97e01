"""`python -m hil accuracy`: the IEC 60601-2-24 report from a recorded balance log.

A bench run leaves a CSV of balance readings, one every 30 s for 2 h:

    t_min,mass_g
    0.0,0.00
    0.5,0.04
    ...

and the report is one command:

    python -m hil accuracy run7.csv --rate 5 --out out/accuracy/run7

It prints the overall mean error A against the suite's flow limit (+/-2 %, the one in
hil/data/iec60601_2_24.json that the acceptance suite also holds delivered volume to), and
Ep(max)/Ep(min) for each observation window against its trumpet limit from the same file,
each with PASS or FAIL, then the verdict; and writes results.json, startup.png and
trumpet.png into the output folder. Flows come from each reading's own time, so a reading
that came a second late does not count as a flow error. Times are counted from the first
reading, so the analysis period is the second hour after it. Exit code: 0 PASS, 1 FAIL;
bad input (missing file, wrong columns, too short a log, uneven sampling) is reported in
one sentence and the command returns 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Sequence

from hil.iec60601 import PROTOCOL, AccuracyResult, analyse, checks
from hil.report_plots import plot_startup_curve, plot_trumpet_curve

TIME_COLUMN = "t_min"
MASS_COLUMN = "mass_g"
DEFAULT_OUT_ROOT = Path("out") / "accuracy"
EXIT_FAIL = 1
EXIT_BAD_INPUT = 2


def main(argv: Sequence[str]) -> int:
    """Run the report on argv (after the sub-command name); 0, or 2 with a message on stderr."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as stop:  # argparse has printed its usage message
        return int(stop.code or 0)
    try:
        t_min, mass_g = read_readings(args.csv)
        result = analyse(
            mass_g,
            args.rate,
            t_min=t_min,
            sample_interval_min=args.interval_min,
            density_g_ml=args.density,
        )
    except ValueError as error:
        print(f"accuracy: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out_dir = args.out or DEFAULT_OUT_ROOT / args.csv.stem
    written = write_report(result, out_dir, args.csv, args.limit_pct)
    print(format_table(result, args.csv.name, args.limit_pct))
    print("wrote " + ", ".join(str(path) for path in written))
    return 0 if all(c.passed for c in checks(result, limit_pct=args.limit_pct)) else EXIT_FAIL


def read_readings(path: Path) -> tuple[list[float], list[float]]:
    """The t_min and mass_g columns of a balance log, as floats."""
    try:
        with Path(path).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
            columns = rows[0].keys() if rows else []
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}; give the CSV the bench run recorded") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    if not rows:
        raise ValueError(f"{path} has no readings; expected a header 't_min,mass_g' and one row per reading")
    missing = [name for name in (TIME_COLUMN, MASS_COLUMN) if name not in columns]
    if missing:
        found = ", ".join(str(name) for name in columns)
        raise ValueError(
            f"{path} has columns {found}; it needs {TIME_COLUMN} and {MASS_COLUMN} "
            f"(missing: {', '.join(missing)}). Put the header 't_min,mass_g' on the first line."
        )
    t_min = [_number(path, line, row, TIME_COLUMN) for line, row in enumerate(rows, start=2)]
    mass_g = [_number(path, line, row, MASS_COLUMN) for line, row in enumerate(rows, start=2)]
    return t_min, mass_g


def write_report(result: AccuracyResult, out_dir: Path, source: Path, limit_pct: float) -> list[Path]:
    """results.json, startup.png and trumpet.png in out_dir; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = result.to_dict()
    startup_curve = {"t_min": fields.pop("t_min"), "flow_ml_h": fields.pop("flow_ml_h")}
    results = checks(result, limit_pct=limit_pct)
    summary = {
        "file": str(source),
        **fields,
        "limit_pct": limit_pct,
        "mean_error_within_limit": results[0].passed,
        "checks": [{"what": c.what, "value_pct": c.value_pct, "limit_pct": c.limit_pct, "passed": c.passed} for c in results],
        "verdict": "PASS" if all(c.passed for c in results) else "FAIL",
        "startup_curve": startup_curve,  # last: long lists after the figures people read
    }
    results_path = out_dir / "results.json"
    results_path.write_text(json.dumps(summary, indent=2) + "\n")
    return [
        results_path,
        plot_startup_curve(result, out_dir / "startup.png", source.name, limit_pct),
        plot_trumpet_curve(result, out_dir / "trumpet.png", source.name, limit_pct),
    ]


def format_table(result: AccuracyResult, source_name: str, limit_pct: float = PROTOCOL.flow_limit_pct) -> str:
    """The short text summary: A against its limit, then Ep(max)/Ep(min) per window against the
    window's trumpet limit, each with PASS or FAIL, then the verdict."""
    results = checks(result, limit_pct=limit_pct)
    mean, windows = results[0], results[1:]
    lines = [
        f"IEC 60601-2-24 accuracy: {source_name}, r = {result.rate_ml_h:g} mL/h, "
        f"S = {result.sample_interval_min:g} min, d = {result.density_g_ml:g} g/mL",
        f"analysis period {result.analysis_start_min:g}-{result.analysis_end_min:g} min: "
        f"mean flow {result.mean_flow_ml_h:.4f} mL/h, A = {result.mean_error_pct:+.2f} % "
        f"(limit +/-{mean.limit_pct:g} %) {_word(mean.passed)}",
        f"{'P (min)':>8} {'Ep(max) %':>10} {'Ep(min) %':>10} {'limit %':>8}",
    ]
    for point, high, low in zip(result.trumpet, windows[0::2], windows[1::2]):
        lines.append(f"{point.window_min:>8g} {point.ep_max_pct:>+10.2f} {point.ep_min_pct:>+10.2f} "
                     f"{'+/-' + format(high.limit_pct, 'g'):>8} {_word(high.passed and low.passed)}")
    lines.append(f"verdict: {_word(all(c.passed for c in results))}")
    return "\n".join(lines)


def _word(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _number(path: Path, line: int, row: dict, column: str) -> float:
    text = (row.get(column) or "").strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{path} line {line}: {column} {text!r} is not a number; fix or remove that row")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hil accuracy",
        description="IEC 60601-2-24 gravimetric accuracy report from a CSV of balance readings (t_min,mass_g).",
    )
    parser.add_argument("csv", type=Path, help="balance log with columns t_min,mass_g")
    parser.add_argument("--rate", type=float, required=True, metavar="R_ML_H", help="set rate r on the pump (mL/h)")
    parser.add_argument(
        "--density", type=float, default=PROTOCOL.water_density_g_ml, metavar="G_ML",
        help=f"water density d (g/mL, default {PROTOCOL.water_density_g_ml:g} at 20 C)",
    )
    parser.add_argument(
        "--interval-min", type=float, default=PROTOCOL.sample_interval_min, metavar="S_MIN",
        help=f"sample interval S between readings (min, default {PROTOCOL.sample_interval_min:g})",
    )
    parser.add_argument(
        "--limit-pct", type=float, default=PROTOCOL.flow_limit_pct, metavar="PCT",
        help=f"+/- limit on the mean error A, drawn on the plots (%%, default {PROTOCOL.flow_limit_pct:g}, the suite's)",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default out/accuracy/<csv name>)")
    return parser
