"""A fake of MicroPython's `esp32` module: RMT channels that record their pulse trains and
PCNT units that count them.

Calling `RMT.finish()` plays the recorded train onto the STEP pin: every PCNT watching that pin
counts its rising edges, reversed or not by the level of its mode pin, as the ESP32's PCNT
does. Until then the channel is busy, as a real one is while it transmits.
"""

from tests.boards.fakes import machine as fake_machine

rmts: list = []
pcnts: dict = {}


def reset() -> None:
    rmts.clear()
    pcnts.clear()


class RMT:
    PULSE_MAX = 32767

    def __init__(self, channel: int = -1, *, pin, clock_div: int = 8, idle_level: bool = False, **kw) -> None:
        self.channel = channel
        self.pin = pin
        self.clock_div = clock_div
        self.idle_level = idle_level
        self.sent: list = []  # (durations, levels) per write_pulses call
        self.busy = False
        rmts.append(self)

    def write_pulses(self, duration: list, data: "bool | list | tuple" = True) -> None:
        if self.busy:
            raise AssertionError("write_pulses while busy would block the control loop")
        durations = duration
        if isinstance(data, (list, tuple)):
            levels = [1 if d else 0 for d in data]
        else:
            first = 1 if data else 0
            levels = [first ^ (i & 1) for i in range(len(durations))]
        if len(levels) != len(durations):
            raise ValueError("durations and levels differ in length")
        for d in durations:
            if not 1 <= d <= self.PULSE_MAX:
                raise ValueError("RMT duration %d out of 1..%d" % (d, self.PULSE_MAX))
        self.sent.append((durations, levels))
        self.busy = True

    def wait_done(self, *, timeout: int = 0) -> bool:
        return not self.busy

    def active(self, value=None):
        if value is False:
            self.busy = False
        return self.busy

    def finish(self, sense_pin=None, extra_rising_edges: int = 0) -> None:
        """The train has gone out on the pin and, through a jumper, on `sense_pin` (plus a
        fault's extra edges, if a test asks)."""
        durations, levels = self.sent[-1]
        rising = sum(1 for i, level in enumerate(levels) if level and (i == 0 or not levels[i - 1]))
        for unit in pcnts.values():
            unit.see_edges(self.pin.id if sense_pin is None else sense_pin, rising + extra_rising_edges)
        self.busy = False


class PCNT:
    INCREMENT, DECREMENT, IGNORE = 1, 2, 0
    NORMAL, REVERSE, HOLD = 0, 1, 2
    IRQ_ZERO, IRQ_MIN, IRQ_MAX, IRQ_THRESHOLD0, IRQ_THRESHOLD1 = 64, 16, 32, 8, 4

    def __init__(self, id: int, **kw) -> None:
        self.id = id
        self.config: dict = {}
        self._value = 0
        self.started = False
        self.handler = None
        self.trigger = 0
        self._flags = 0
        pcnts[id] = self
        if kw:
            self.init(**kw)

    def init(self, **kw) -> None:
        self.config.update(kw)
        if any(k in kw for k in ("min", "max", "value")):
            self._value = 0

    def start(self) -> None:
        self.started = True

    def irq(self, handler=None, trigger=IRQ_ZERO):
        if handler is not None:
            self.handler = handler
            self.trigger = trigger
        return self

    def flags(self) -> int:
        return self._flags

    def value(self, reset=None) -> int:
        v = self._value
        if reset == 0:
            self._value = 0
        return v

    def see_edges(self, pin_id: int, n: int) -> None:
        """n rising edges arrive on pin_id (only counted if that is this unit's pin)."""
        cfg = self.config
        if not self.started or getattr(cfg.get("pin"), "id", None) != pin_id:
            return
        step = {self.INCREMENT: 1, self.DECREMENT: -1}.get(cfg.get("rising", self.IGNORE), 0)
        mode_pin = cfg.get("mode_pin")
        if mode_pin is not None:
            mode = cfg.get("mode_high" if fake_machine.Pin(mode_pin.id).level else "mode_low", self.NORMAL)
            if mode == self.REVERSE:
                step = -step
            elif mode == self.HOLD:
                step = 0
        lo, hi = cfg.get("min", -32768), cfg.get("max", 32767)
        for _ in range(n):
            self._value += step
            if self._value >= hi or self._value <= lo:
                self._flags = self.IRQ_MAX if self._value >= hi else self.IRQ_MIN
                self._value = 0  # the ESP32 PCNT resets to zero at either limit
                if self.handler is not None and self.trigger & self._flags:
                    self.handler(self)
