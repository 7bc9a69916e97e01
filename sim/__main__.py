"""Command line of the simulator.

    python -m sim run sim/scenarios/standard.toml [--set k=v ...] [--event AT_MIN:ACTION[:k=v,...] ...]
                      [--runtime micropython|cpython] [--seed N] [--out DIR] [--json]
    python -m sim list
    python -m sim campaign SPEC.toml [--workers N] [--scheduler tcp://HOST:8786] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sim import scenario as scn


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim", description="Simulate a syringe-pump session.")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one scenario")
    r.add_argument("scenario", help="a scenario TOML file (see sim/scenarios/)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a scenario field, e.g. --set patient.weight_kg=85")
    r.add_argument("--event", dest="events", action="append", default=[], metavar="AT_MIN:ACTION[:KEY=VALUE,...]",
                   help="add a scenario event, e.g. --event 20:occlude --event 25:release")
    r.add_argument("--runtime", choices=scn.RUNTIMES, help="where the firmware runs (default: the scenario's run.runtime)")
    r.add_argument("--seed", type=int, help="random seed (default: the scenario's run.seed)")
    r.add_argument("--out", type=Path, help="output folder (default: out/<scenario name>)")
    r.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    sub.add_parser("list", help="list the shipped scenarios")
    c = sub.add_parser("campaign", help="run a population and fault campaign (see sim/campaign_spec.py)")
    c.add_argument("spec", help="a campaign spec TOML file (see sim/campaigns/)")
    c.add_argument("--workers", type=int, help="worker processes of the local Dask cluster (default: one per core; "
                                               "0: run in this process)")
    c.add_argument("--scheduler", metavar="tcp://HOST:8786", help="run on an existing Dask cluster instead")
    c.add_argument("--out", type=Path, help="output folder (default: out/campaign/<spec name>); a folder with "
                                            "results of the same spec is resumed")
    args = ap.parse_args(argv)

    if args.command == "campaign":
        return _campaign(args)

    if args.command == "list":
        for path in sorted(scn.SCENARIO_DIR.glob("*.toml")):
            s = scn.load(path)
            print(f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}: {s.description}")
        return 0

    from sim import report, runner

    # --runtime and --seed are overrides like any other, checked against the same schema.
    overrides = [*args.overrides, *([f'run.runtime="{args.runtime}"'] if args.runtime else []),
                 *([f"run.seed={args.seed}"] if args.seed is not None else [])]
    try:
        scenario = scn.load(args.scenario, overrides, args.events)
    except scn.ScenarioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out_dir = args.out or Path("out") / scenario.name
    if out_dir.exists() and not out_dir.is_dir():
        print(f"error: --out {out_dir}: is a file; give a folder for the outputs", file=sys.stderr)
        return 2
    progress = report.Progress()
    try:
        result = runner.run(scenario, progress=progress)
    except OSError as e:  # the firmware's interpreter cannot be started
        progress.done()
        print(f"error: {scenario.source}: {e}", file=sys.stderr)
        return 2
    progress.done()
    try:
        summary = report.write_outputs(result, out_dir)
    except OSError as e:
        print(f"error: --out {out_dir}: cannot write the outputs: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(report.human(summary))
    return 0 if all(v["ok"] for v in summary["expectations"].values()) else 1


def _campaign(args: argparse.Namespace) -> int:
    from sim import campaign, campaign_spec

    if args.workers is not None and not 0 <= args.workers <= 1024:
        print(f"error: --workers = {args.workers}: allowed 0..1024", file=sys.stderr)
        return 2
    try:
        spec = campaign_spec.load(args.spec)
        out = args.out or Path("out") / "campaign" / spec.name
        progress = campaign.Progress()
        rows = campaign.run(spec, out, workers=args.workers, scheduler=args.scheduler, progress=progress)
    except (campaign_spec.SpecError, scn.ScenarioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    progress.done()
    alarmed = sum(1 for r in rows if r["n_alarms"])
    print(f"{len(rows)} patients, {alarmed} with an alarm; {out / 'patients.parquet'}, {out / 'patients.csv'}, "
          f"{out / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
