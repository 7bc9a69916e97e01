"""Run inside the MicroPython unix port: build firmware.hal.rp2 on allocation-free stand-ins and
call every method the control loop uses with the heap locked. Prints one line per method,
"ok <name>" or "alloc <name>", then "done".

    micropython tests/boards/mpy_alloc_probe.py <storage folder>
"""

import sys

sys.path.insert(0, "tests/boards/mpy_fakes")
sys.path.insert(0, ".")

import micropython  # type: ignore[import-not-found]  # noqa: E402 - MicroPython only

from firmware.board import Board  # noqa: E402
from firmware.hal import rp2 as rp2_hal  # noqa: E402

rp2_hal.STORAGE_ROOT = sys.argv[1]
rp2_hal.build_link = lambda board: None
hal = rp2_hal.build(Board.load("RPI_PICO"))
hal.watchdog.feed()  # the first feed creates the WDT, once, at the first tick
buf = bytearray(4)


def probe(name, fn):
    micropython.heap_lock()
    try:
        fn()
        ok = True
    except MemoryError:
        ok = False
    finally:
        micropython.heap_unlock()
    print(("ok " if ok else "alloc ") + name)


probe("stepper.enable", lambda: hal.stepper.enable(True))
probe("stepper.move", lambda: hal.stepper.move(25, 200))
probe("stepper.move_reverse", lambda: hal.stepper.move(-25, 200))
probe("stepper.pending", lambda: hal.stepper.pending())
probe("stepper.halt", lambda: hal.stepper.halt())
probe("counter.count", lambda: hal.counter.count())
probe("force.raw", lambda: hal.force.raw())
probe("force.samples", lambda: hal.force.samples())
probe("switches.syringe_present", lambda: hal.switches.syringe_present())
probe("switches.at_end_stop", lambda: hal.switches.at_end_stop())
probe("nothing (calibration)", lambda: None)
probe("a new list (calibration: must allocate)", lambda: [hal, buf])
probe("watchdog.feed", lambda: hal.watchdog.feed())
print("done")
