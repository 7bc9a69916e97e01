"""The HX711 load-cell amplifier, read without ever waiting for it.

The HX711 converts 10 or 80 times a second (its RATE pin decides) and pulls DOUT low when a
conversion is ready. A blocking driver would sit up to 100 ms in the control loop; this one
only reads when DOUT is already low, so `poll()` costs one pin read when nothing is new.
A read is 24 clock pulses, MSB first, each bit valid while PD_SCK is high, then 1-3 more
pulses that choose the next conversion (25: channel A, gain 128). PD_SCK must not stay high
60 us or the chip powers down, so interrupts are held off for the ~25 pulses.

    hx = Hx711(Pin(6, Pin.IN), Pin(7, Pin.OUT, value=0), gain_pulses=25)
    hx.poll(); hx.raw()  ->  -8388608..8388607, hx.samples() -> conversions read so far
"""

from firmware.compat import const

_DATA_BITS = const(24)
_SIGN_BIT = const(0x800000)
_FULL_SCALE = const(0x1000000)


class Hx711:
    def __init__(self, data_pin, clock_pin, gain_pulses: int = 25, irq_off=None, irq_on=None) -> None:
        if gain_pulses not in (25, 26, 27):
            raise ValueError("HX711 gain_pulses %r is not 25 (A/128), 26 (B/32) or 27 (A/64)" % (gain_pulses,))
        self._data = data_pin
        self._clock = clock_pin
        self._extra_pulses = gain_pulses - _DATA_BITS
        self._irq_off = irq_off
        self._irq_on = irq_on
        self._raw = 0
        self._samples = 0
        clock_pin.value(0)  # PD_SCK high for > 60 us would power the chip down

    def ready(self) -> bool:
        return self._data.value() == 0

    def poll(self) -> bool:
        """Read the conversion if one is waiting; True when a new one was read."""
        if self._data.value() != 0:
            return False
        state = self._irq_off() if self._irq_off is not None else 0
        try:
            value = self._shift_in()
        finally:
            if self._irq_on is not None:
                self._irq_on(state)
        if value & _SIGN_BIT:
            value -= _FULL_SCALE
        self._raw = value
        self._samples += 1
        return True

    def _shift_in(self) -> int:
        clock = self._clock
        data = self._data
        value = 0
        for _ in range(_DATA_BITS):
            clock.value(1)
            value = (value << 1) | data.value()
            clock.value(0)
        for _ in range(self._extra_pulses):
            clock.value(1)
            clock.value(0)
        return value

    def raw(self) -> int:
        self.poll()
        return self._raw

    def samples(self) -> int:
        self.poll()
        return self._samples
