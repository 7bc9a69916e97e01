"""Firmware cost in the MicroPython interpreter, and the link to the virtual board."""

from __future__ import annotations

import json
import statistics
import subprocess
import time

from bench.results import Figure
from firmware.link_budget import OUTPUT_BYTES_PER_POLL_MAX
from sim.bus import ROOT, micropython_path


def _in_micropython(script: str) -> dict:
    """Run a bench script in the MicroPython interpreter; its last line of output is JSON."""
    out = subprocess.run([micropython_path(), script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def firmware() -> list[Figure]:
    d = _in_micropython("bench/mpy_firmware_cost.py")
    params = {"interpreter": "micropython unix port (x86-64 host)", "ticks": d["ticks"], "scenario": "standard 40 min"}
    return [
        Figure("firmware_tick_us_median", d["tick_us_median"], "us", params=params),
        Figure("firmware_tick_us_p99", d["tick_us_p99"], "us", params=params),
        Figure("firmware_heap_bytes", d["heap_running_bytes"], "bytes in use during an infusion",
               params={**params, "after_boot_bytes": d["heap_boot_bytes"]}),
        Figure("firmware_allocs_per_tick", d["allocated_bytes"] / d["ticks"], "bytes/tick", target="0",
               params={**params, "ticks_that_allocated": d["allocating_ticks"]}),
    ]


def link_burst() -> list[Figure]:
    """One protocol poll while 10,000 typed STATUS lines arrive as fast as the link takes them."""
    d = _in_micropython("bench/mpy_link_burst.py")
    params = {"interpreter": "micropython unix port (x86-64 host)", "lines": d["lines"], "polls": d["polls"],
              "quiet_poll_us_median": d["quiet_poll_us_median"]}
    return [
        Figure("link_burst_poll_us_median", d["poll_us_median"], "us", params=params),
        Figure("link_burst_poll_us_max", d["poll_us_max"], "us", params=params),
        Figure("link_burst_out_bytes_max", d["out_bytes_max"], "bytes/poll", target="<= %d" % OUTPUT_BYTES_PER_POLL_MAX,
               params=params),
    ]


def link(n: int = 500) -> list[Figure]:
    from hil.client import PumpClient
    from hil.virtual_board import VirtualBoard

    with VirtualBoard("micropython", speed=0).start() as vb, PumpClient.open(vb.port) as pump:
        pump.set_telemetry(0)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            pump.status()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        pump.set_telemetry(100)
        pump.read_lines(0.2)
        lines = pump.read_lines(3.0)
        tel = sum(1 for line in lines if line.startswith(b"! TEL"))
    params = {"board": "virtual, firmware in micropython, pty", "commands": n}
    return [
        Figure("link_roundtrip_ms_median", round(statistics.median(times), 3), "ms", params=params),
        Figure("link_roundtrip_ms_p99", round(times[n * 99 // 100], 3), "ms", params=params),
        Figure("telemetry_lines_per_s", round(tel / 3.0, 1), "lines/s",
               params={"interval_ms": 100, "speed": "as fast as possible", "listen_s": 3}),
    ]
