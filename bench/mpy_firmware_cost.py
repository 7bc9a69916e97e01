"""Runs inside the MicroPython interpreter: control-loop tick time, heap, allocations per tick.

Prints one JSON line. Usage (repository root): micropython bench/mpy_firmware_cost.py
"""

import gc
import json
import sys
import time

sys.path.insert(0, ".")


def main():
    gc.collect()
    from firmware.board import Board
    from firmware.controller import Controller
    from firmware.hal.virtual import VirtualBoard
    from firmware.library import DrugLibrary
    from firmware.syringes import SyringeTable

    vb = VirtualBoard()
    ctl = Controller(vb.hal, Board.load("VIRTUAL"), DrugLibrary.load(), SyringeTable.load())
    gc.collect()
    heap_boot = gc.mem_alloc()
    ctl.program_prescription({"drug": "ketamine", "profile": "depression", "conc_ug_ml": 10000, "weight_g": 70000,
                              "dose_ug_kg": 500, "duration_min": 40, "syringe": "bd_plastipak_50"})
    ctl.report_vitals({"sbp": 125, "dbp": 80, "bp_id": 1, "hr": 72, "spo2": 98})  # the profile needs them to start
    ctl.start()
    n = 24000
    gc.collect()
    before_array = gc.mem_alloc()
    tick_us = [0] * n  # the measurement's own buffer, taken out of the heap figure below
    array_bytes = gc.mem_alloc() - before_array
    allocating_ticks = 0
    allocated_bytes = 0
    heap_running = 0
    for i in range(n + 20):  # a little past the end, so the completion is part of it
        if i >= n:
            vb.advance(100)
            ctl.tick(vb.clock.now_ms())
            ctl.service(vb.clock.now_ms())
            continue
        vb.advance(100)
        now = vb.clock.now_ms()
        a0 = gc.mem_alloc()
        t0 = time.ticks_us()
        ctl.tick(now)
        t1 = time.ticks_us()
        a1 = gc.mem_alloc()
        tick_us[i] = time.ticks_diff(t1, t0)
        if a1 > a0:
            allocating_ticks += 1
            allocated_bytes += a1 - a0
        ctl.service(now)
        if i == n // 2:
            gc.collect()
            heap_running = gc.mem_alloc() - array_bytes
    tick_us.sort()
    print(json.dumps({"ticks": n, "state": ctl.state_name(), "tick_us_median": tick_us[n // 2],
                      "tick_us_p99": tick_us[n * 99 // 100], "heap_boot_bytes": heap_boot,
                      "heap_running_bytes": heap_running, "allocating_ticks": allocating_ticks,
                      "allocated_bytes": allocated_bytes}))


main()
