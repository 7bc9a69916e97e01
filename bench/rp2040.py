"""The firmware on the real rp2 port: MicroPython v1.28 RPI_PICO on the emulated Pico.

`probe()` boots the emulated Pico with bench/rp2040_probe.py as its main.py (the pump's
firmware and data beside it, as `make build BOARD=RPI_PICO` makes them), feeds it the simulated
plant through its pins and returns what the probe printed plus the host's own count of STEP
edges and the emulator's speed. `figures()` turns that into `make bench` figures.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path

from bench.results import Figure
from hil.emulated_backend import build_firmware, default_image
from hil.emulated_board import EmulatedBoard
from hil.pico_image import ROOT, SHORT_RX, Unavailable, filesystem_image, short_run_library

PROBE = ROOT / "bench" / "rp2040_probe.py"
LIMIT_EMULATED_S = 240
PROBE_LINE = re.compile(rb"probe (\{[^\n]*\})\r?\n")
MARK = re.compile(rb"probe-mark (\w+)")


def probe_image(source: bool = False) -> bytes:
    """The build with the probe as main.py; `source`: the firmware as .py files instead of .mpy
    (to compare import time and heap)."""
    files = {"main.py": PROBE.read_bytes(), "probe_rx.json": json.dumps(SHORT_RX).encode(),
             "firmware/data/drug_library.json": short_run_library()}
    if source:
        from tools.build import Manifest

        files.update({p.relative_to(ROOT).as_posix(): p.read_bytes() for p in Manifest("RPI_PICO").modules})
        with tempfile.TemporaryDirectory() as tmp:
            tree = build_firmware(Path(tmp))
            for mpy in tree.rglob("*.mpy"):
                mpy.unlink()
            return filesystem_image(tree, files)
    return default_image(files)


def probe(uf2: str | None = None, source: bool = False) -> dict:
    """Run the probe to its line; raises RuntimeError with the chip's output if it never comes."""
    board = EmulatedBoard(uf2, probe_image(source))
    wall0 = time.perf_counter()
    output = b""
    try:
        found = None
        marks = {}  # probe-mark name -> (wall s, emulated ms) when the host saw it
        while found is None:
            board.tick()
            output += board.pins.serial
            for name in MARK.findall(board.pins.serial):
                marks[name.decode()] = (time.perf_counter(), board.t_ms)
            found = PROBE_LINE.search(output)
            if found is None and (board.t_ms > LIMIT_EMULATED_S * 1000 or board.pins.watchdog_resets):
                raise RuntimeError(f"the probe did not finish (t = {board.t_ms} ms, watchdog resets "
                                   f"{board.pins.watchdog_resets}); the chip wrote: {output[-1500:]!r}")
        wall = time.perf_counter() - wall0
        result = json.loads(found.group(1))
        result["host_runaway_edges"] = board.pins.disabled_edges  # EN is off for the runaway only
        result["host_step_edges"] = board.pins.forward_edges + board.pins.backward_edges
        (wall0_loop, t0_loop), (wall1_loop, t1_loop) = marks["loop"], marks["end"]
        result["loop_speed"] = (t1_loop - t0_loop) / 1000 / (wall1_loop - wall0_loop)
        result["emulated_s"] = board.t_ms / 1000
        result["instructions"] = board.pins.instructions
        result["wall_s"] = wall
    finally:
        board.close()
    return result


def figures() -> list[Figure]:
    try:
        d = probe()
    except Unavailable as e:
        print(f"     rp2040 figures skipped: {e}")
        return []
    params = {"port": "MicroPython v1.28.0 RPI_PICO on rp2040js 1.4.1 (Cortex-M0+ at 125 MHz)", "ticks": d["ticks"],
              "scenario": "0.5 mL over 2 min, BD Plastipak 50 mL", "build": ".mpy (mpy-cross -march=armv6m)"}
    return [
        Figure("rp2040_heap_free_bytes_boot", d["heap_free_boot"], "bytes free after boot",
               params={**params, "allocated": d["heap_alloc_boot"], "free_before_import": d["heap_free_bare"]}),
        Figure("rp2040_heap_free_bytes_infusing", d["heap_free_infusing"], "bytes free while infusing",
               params={**params, "allocated": d["heap_alloc_infusing"]}),
        Figure("rp2040_allocs_per_tick", d["allocated_bytes"] / d["counted_ticks"], "bytes/tick", target="0",
               params={**params, "counted_ticks": d["counted_ticks"], "ticks_that_allocated": d["allocating_ticks"],
                       "ticks_refused_under_heap_lock": d["heap_locked_ticks_refused"]}),
        Figure("rp2040_tick_us_median", d["tick_us_median"], "us", params=params),
        Figure("rp2040_tick_us_p99", d["tick_us_p99"], "us", params=params),
        Figure("rp2040_emulated_speed", round(d["loop_speed"], 2), "emulated s per wall s",
               params={**params, "measured_over": "the main loop infusing (%d ticks)" % d["ticks"],
                       "whole_probe": "%.1f emulated s in %.1f wall s" % (d["emulated_s"], d["wall_s"])}),
        Figure("rp2040_boot_to_ready_s", d["ready_ms"] / 1000, "s (emulated)",
               params={**params, "firmware_import_and_build_ms": d["boot_ms"]}),
    ]
