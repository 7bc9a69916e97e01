"""What the Pico and the ESP32 boards build from MicroPython's `machine`, `time` and `sys` alike:
the millisecond clock, the syringe switches, the watchdog, the operator's serial link and the
reason for the last reset.

The pieces receive their pins, streams and watchdog class through their constructors, so a
host test hands them fakes:

    switches = PinSwitches(Pin(10, Pin.IN, Pin.PULL_UP), Pin(11, ...), Pin(13, ...), active_level=0)
    link = StreamLink(sys.stdin.buffer, sys.stdout.buffer, poller)   # USB CDC on the Pico
"""

import time

from firmware.board import MAX_GPIO
from firmware.compat import const

_POLLIN = const(1)


class TicksClock:
    """time.ticks_ms(): wraps every 2**30 ms on both boards, as firmware.ticks expects."""

    def now_ms(self) -> int:
        # The stubs type ticks as an opaque _TicksMs; on both chips it is a small int.
        return time.ticks_ms()  # type: ignore[return-value]

    def diff_ms(self, a_ms: int, b_ms: int) -> int:
        return time.ticks_diff(a_ms, b_ms)


class PinSwitches:
    """Microswitches to ground with pull-ups: a switch is closed when its pin reads active_level."""

    def __init__(self, syringe_pin, plunger_pin, end_stop_pin, active_level: int = 0) -> None:
        self._syringe = syringe_pin
        self._plunger = plunger_pin
        self._end = end_stop_pin
        self._active = active_level

    def syringe_present(self) -> bool:
        return self._syringe.value() == self._active

    def plunger_engaged(self) -> bool:
        return self._plunger.value() == self._active

    def at_end_stop(self) -> bool:
        return self._end.value() == self._active


class MachineWatchdog:
    """machine.WDT, started by the first feed (the first control tick), so boot is never cut short.

    Once started a watchdog cannot be stopped on either chip: a loop that stops ticking resets
    the board, and the journal then says how much was delivered. For maintenance only
    (firmware/service.py: SERVICE action=flash, the pump idle with no syringe), a machine.Timer
    takes over the feeding so main.py can return to the REPL for a re-flash; the hard reset that
    ends the copy stops the timer with everything else.
    """

    def __init__(self, timeout_ms: int, wdt_class, new_timer=None) -> None:
        self.timeout_ms = timeout_ms
        self._wdt_class = wdt_class
        self._new_timer = new_timer  # () -> machine.Timer: Timer() on the RP2040, Timer(0) on the ESP32
        self._wdt = None
        self.timer = None

    def feed(self) -> None:
        if self._wdt is None:
            self._wdt = self._wdt_class(timeout=self.timeout_ms)
        self._wdt.feed()

    def feed_from_timer(self) -> None:
        """Feed from a periodic timer (a quarter of the timeout) from now on."""
        if self._new_timer is None:
            raise ValueError("this board's watchdog has no timer to feed it")
        self.feed()
        if self.timer is None:
            self.timer = self._new_timer()
            self.timer.init(period=max(1, self.timeout_ms // 4), mode=self.timer.PERIODIC, callback=self._timer_feed)

    def _timer_feed(self, _timer) -> None:
        self.feed()


class StreamLink:
    """A console stream (USB CDC on the Pico, UART0 on the ESP32), polled so read() never blocks."""

    def __init__(self, stream_in, stream_out, poller) -> None:
        self._in = stream_in
        self._out = stream_out
        self._poll = poller
        poller.register(stream_in, _POLLIN)
        self._byte = bytearray(1)

    def _waiting(self) -> bool:
        for _ in self._poll.ipoll(0):  # ipoll reuses its result: no allocation
            return True
        return False

    def read(self, buf) -> int:
        n = 0
        size = len(buf)
        while n < size and self._waiting():
            if self._in.readinto(self._byte) != 1:
                break
            buf[n] = self._byte[0]
            n += 1
        return n

    def write(self, data: bytes) -> None:
        self._out.write(data)


class UartLink:
    """A UART that is not the console: machine.UART with any() and readinto(), never waiting."""

    def __init__(self, uart) -> None:
        self._uart = uart

    def read(self, buf) -> int:
        n = self._uart.any()
        if n <= 0:
            return 0
        if n > len(buf):
            n = len(buf)
        got = self._uart.readinto(buf, n)
        return got if got else 0

    def write(self, data: bytes) -> None:
        self._uart.write(data)


# machine.reset_cause() per port, as a word the journal and the operator can read.
ESP32_RESET_NAMES = (
    ("PWRON_RESET", "power_on"),
    ("HARD_RESET", "hard"),
    ("WDT_RESET", "watchdog"),
    ("DEEPSLEEP_RESET", "deep_sleep"),
    ("SOFT_RESET", "soft"),
)
# The rp2 port has only PWRON_RESET and WDT_RESET: the chip tells whether its watchdog caused
# the last reset and nothing else, so power-on, the RUN pin and an interpreter restart (which
# does not reset the chip) all read PWRON_RESET. The word says only what is known.
RP2040_RESET_NAMES = (
    ("PWRON_RESET", "not_watchdog"),
    ("WDT_RESET", "watchdog"),
)


def reset_cause_name(machine_module, names: tuple) -> str:
    """machine.reset_cause() named from the port's table."""
    cause = machine_module.reset_cause()
    for constant, name in names:
        if getattr(machine_module, constant, None) == cause:
            return name
    return "unknown_%d" % cause


def pin_number(pins: dict, name: str, board_name: str) -> int:
    """A pin from board.json's "pins", or a message naming the board file and the key."""
    value = pins.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_GPIO:
        raise ValueError("boards/%s/board.json: pins.%s is %r, expected a GPIO number 0..%d; add it to the board file" % (board_name, name, value, MAX_GPIO))
    return value


def setting(doc: dict, section: str, key: str, allowed: tuple, board_name: str):
    """A board.json setting that must be one of `allowed`, with a message naming it."""
    value = doc.get(section, {}).get(key)
    if value not in allowed:
        raise ValueError("boards/%s/board.json: %s.%s is %r, expected one of %r" % (board_name, section, key, value, allowed))
    return value


def build_force(machine_module, board, pins: dict):
    """The HX711 on the board's data and clock pins (bit-banged, polled)."""
    from firmware.hal.hx711 import Hx711

    m = machine_module
    data = m.Pin(pin_number(pins, "hx711_data", board.name), m.Pin.IN)
    clock = m.Pin(pin_number(pins, "hx711_clock", board.name), m.Pin.OUT, value=0)
    return Hx711(data, clock, board.force.get("gain_pulses", 25), m.disable_irq, m.enable_irq)


def build_switches(machine_module, board, pins: dict) -> "PinSwitches":
    """Syringe, plunger and end-stop switches, pulled to their inactive level."""
    m = machine_module
    active = setting(board.doc, "switches", "active_level", (0, 1), board.name)
    pull = m.Pin.PULL_UP if active == 0 else m.Pin.PULL_DOWN

    def switch(name: str):
        return m.Pin(pin_number(pins, name, board.name), m.Pin.IN, pull)

    return PinSwitches(switch("syringe_present"), switch("plunger_engaged"), switch("end_stop_empty"), active)
