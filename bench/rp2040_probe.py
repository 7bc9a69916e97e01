"""Runs as /main.py on the emulated Pico (bench/rp2040.py puts it in the littlefs image in place
of the pump's own): the firmware's memory, tick time and allocations on the real rp2 port, then a
forced runaway against the PIO step budget gate.

It boots the firmware as main.py does (firmware.main.boot), runs an infusion tick by tick with
the operator protocol served as in firmware.main.run, and prints one JSON line, "probe {...}".
The host side supplies the syringe, the load cell and the switches through the pins.
"""

import gc
import json
import time

import micropython  # type: ignore[import-not-found]  # MicroPython only

RUNAWAY_BUDGET = 50  # the gate's budget ...
RUNAWAY_ASKED = 120  # ... and what a runaway generator is asked for
VITALS = {"sbp": 125, "dbp": 80, "bp_id": 1, "hr": 72, "spo2": 98}
TICKS = 200  # 20 s of infusion at 100 ms, timed and under heap_lock
COUNTED_TICKS = 100  # gc.mem_alloc() around each: it walks the whole heap (~7 ms on the RP2040)


def _loop(ctl, protocol, ticks, tick_us=None, locked=False, count=False):
    """firmware.main.run's loop; times each controller tick into tick_us, runs it under heap_lock
    (`locked`) or counts the bytes it allocates (`count`); returns (allocating, allocated_bytes, refused)."""
    clock = ctl.hal.clock
    allocating = allocated = refused = 0
    for i in range(ticks):
        now = clock.now_ms()
        protocol.poll(now)
        a0 = gc.mem_alloc() if count else 0
        t0 = time.ticks_us()
        if locked:
            micropython.heap_lock()
        try:
            ctl.tick(now)
        except MemoryError:
            refused += 1
        finally:
            if locked:
                micropython.heap_unlock()
        t1 = time.ticks_us()
        a1 = gc.mem_alloc() if count else 0
        if tick_us is not None:
            tick_us[i] = time.ticks_diff(t1, t0)
        if a1 > a0:
            allocating += 1
            allocated += a1 - a0
        ctl.service(now)
        wait = clock.diff_ms(now + ctl.board.tick_ms, clock.now_ms())
        if wait > 0:
            time.sleep_ms(wait)
    return allocating, allocated, refused


def _runaway(hal):
    """Budget RUNAWAY_BUDGET steps, ask the generator for RUNAWAY_ASKED: the gate must stop it."""
    from firmware.hal import rp2_pio

    stepper = hal.stepper
    before = hal.counter.total_edges()
    stepper._gate.put(RUNAWAY_BUDGET - 1)
    stepper._gen.put(rp2_pio.command_word(RUNAWAY_ASKED, 1))
    stepper._gen.put(rp2_pio.timing_word(1000, stepper._high))
    for _ in range(RUNAWAY_ASKED // 10 + 5):  # long enough for all RUNAWAY_ASKED at 1 ms
        hal.watchdog.feed()
        time.sleep_ms(10)
    counted = hal.counter.total_edges() - before
    stepper.halt()
    return counted


def main(rx):
    out = {}
    gc.collect()
    out["heap_free_bare"] = gc.mem_free()
    t0 = time.ticks_ms()
    from firmware.main import boot
    from firmware.protocol import Protocol

    ctl = boot("/board.json")
    out["boot_ms"] = time.ticks_diff(time.ticks_ms(), t0)
    out["ready_ms"] = time.ticks_ms()  # since the chip's reset
    gc.collect()
    out["heap_free_boot"] = gc.mem_free()
    out["heap_alloc_boot"] = gc.mem_alloc()
    protocol = Protocol(ctl, ctl.hal.link, ctl.board.telemetry_ms)
    ctl.program_prescription(rx)
    if ctl.program.soft_fields:
        ctl.confirm(ctl.program.soft_fields)
    ctl.report_vitals(VITALS)  # the bedside monitor's readings the profile needs fresh at START
    ctl.start()
    tick_us = [0] * TICKS
    _loop(ctl, protocol, 20)  # settle: first telemetry, first journal writes
    allocating, allocated, _ = _loop(ctl, protocol, COUNTED_TICKS, count=True)
    gc.collect()
    out["heap_free_infusing"] = gc.mem_free()
    out["heap_alloc_infusing"] = gc.mem_alloc()
    print("probe-mark loop")  # the host times the plain loop between the marks (emulated speed)
    _, _, refused = _loop(ctl, protocol, TICKS, tick_us, locked=True)
    print("probe-mark end")
    out["state"] = ctl.state_name()
    out["ticks"] = TICKS
    out["counted_ticks"] = COUNTED_TICKS
    out["allocating_ticks"] = allocating
    out["allocated_bytes"] = allocated
    out["heap_locked_ticks_refused"] = refused
    tick_us.sort()
    out["tick_us_median"] = tick_us[TICKS // 2]
    out["tick_us_p99"] = tick_us[TICKS * 99 // 100]
    out["steps"] = ctl.delivered_steps()
    if out["state"] in ("running", "paused"):
        ctl.stop()
    out["runaway_budget"] = RUNAWAY_BUDGET
    out["runaway_asked"] = RUNAWAY_ASKED
    out["runaway_counted"] = _runaway(ctl.hal)
    out["pio_programs"] = _pio_programs()
    print("probe " + json.dumps(out))


def _pio_programs() -> dict:
    """The pump's PIO programs as the real rp2.asm_pio built them: every field, for the host
    assembler (tests/boards/fakes/pio_asm.py) to be checked against."""
    from firmware.hal import rp2_pio

    programs = {"step_generator": rp2_pio.step_generator(rp2_pio.high_cycles_for(1900)),
                "step_gate": rp2_pio.step_gate, "step_counter": rp2_pio.step_counter}
    out = {"fields": len(rp2_pio.step_gate)}  # rp2's _PROG_MAX_FIELDS is a const(): not an attribute
    for name, prog in programs.items():
        out[name] = [list(prog[0])] + [f if isinstance(f, int) or f is None else list(f) for f in prog[1:]]
    return out


main(json.loads(open("/probe_rx.json").read()))
