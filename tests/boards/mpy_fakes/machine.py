"""A minimal `machine` for running firmware.hal.rp2 inside the MicroPython unix port.

Unlike tests/boards/fakes (CPython, with the PIO emulator), these stand-ins allocate nothing
after construction, so the HAL's own allocations show under micropython.heap_lock().
"""


class Pin:
    IN, OUT = 0, 1
    PULL_UP, PULL_DOWN = 1, 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.level = 0 if value is None else value

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


PWRON_RESET = 1
WDT_RESET = 3


def reset_cause():
    return PWRON_RESET


def freq():
    return 125000000


def disable_irq():
    return 0


def enable_irq(state):
    pass
