"""What tools/build.py compiles and copies onto a Raspberry Pi Pico (RP2040).

Paths are relative to the repository root; globs follow pathlib. The firmware is compiled with
mpy-cross -march=armv6m (the Cortex-M0+); data files go over as they are.
"""

MARCH = "armv6m"
MODULES = ["firmware/**/*.py"]
EXCLUDE = [
    "firmware/hal/esp32.py",  # the other board
    "firmware/hal/virtual.py",  # the simulator's board
    "firmware/hal/simbus.py",
]
DATA = ["firmware/data/*.json"]
