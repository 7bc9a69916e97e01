"""What tools/build.py compiles and copies onto an ESP32 DevKitC.

Paths are relative to the repository root; globs follow pathlib. The firmware is compiled with
mpy-cross -march=xtensawin (the ESP32's Xtensa LX6 with windowed registers); data files go
over as they are.
"""

MARCH = "xtensawin"
MODULES = ["firmware/**/*.py"]
EXCLUDE = [
    "firmware/hal/rp2.py",  # the other board
    "firmware/hal/rp2_pio.py",
    "firmware/hal/virtual.py",  # the simulator's board
    "firmware/hal/simbus.py",
]
DATA = ["firmware/data/*.json"]
