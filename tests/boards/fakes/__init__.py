"""Stand-ins for MicroPython's `machine`, `rp2` and `esp32` modules, so the board HALs import and
run on a PC. `rp2.StateMachine` here runs its program in the RP2040 PIO emulator on shared pads
(tests.boards.fakes.pio_cosim); `machine.Pin` records what the HAL drives and reads what a test
sets.

    from tests.boards import fakes
    fakes.install()            # before importing firmware.hal.rp2 or firmware.hal.esp32
    fakes.reset()              # a fresh board for each test
"""

import sys

from tests.boards.fakes import esp32 as fake_esp32
from tests.boards.fakes import machine as fake_machine
from tests.boards.fakes import rp2 as fake_rp2


def install() -> None:
    """Put the fakes where `import machine` / `import rp2` / `import esp32` will find them."""
    sys.modules["machine"] = fake_machine
    sys.modules["rp2"] = fake_rp2
    sys.modules["esp32"] = fake_esp32


def reset() -> None:
    fake_machine.reset()
    fake_rp2.reset()
    fake_esp32.reset()
