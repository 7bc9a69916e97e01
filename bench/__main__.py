"""`make bench`: every figure, a table on stdout, out/bench/results.json."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench import campaign_runs, firmware_cost, results, rp2040, sim_runs

STEPS = [
    ("simulation speed", sim_runs.realtime_factors),
    ("population throughput", lambda: [sim_runs.population_throughput()]),
    ("campaign throughput", campaign_runs.campaign_throughput),
    ("dose accuracy matrix", sim_runs.dose_accuracy),
    ("occlusion", sim_runs.occlusion),
    ("false alarms", lambda: [sim_runs.false_alarms()]),
    ("firmware cost", firmware_cost.firmware),
    ("link", firmware_cost.link),
    ("link burst", firmware_cost.link_burst),
    ("journal wear", firmware_cost.journal_wear),
    ("firmware on the emulated Pico", rp2040.figures),
]


def main(argv: list[str]) -> int:
    out_path = Path(argv[0]) if argv else Path("out/bench/results.json")
    figures = []
    t0 = time.perf_counter()
    for label, step in STEPS:
        t = time.perf_counter()
        print(f"[{len(figures):2d}] {label} ...", file=sys.stderr, flush=True)
        figures += step()
        print(f"     {label}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    results.write(figures, out_path, wall)
    print(results.table(figures))
    print(f"\n{len(figures)} figures in {wall:.0f} s; {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
