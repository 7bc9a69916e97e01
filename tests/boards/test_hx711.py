"""firmware.hal.hx711: reads only when DOUT is low, clocks 24 bits MSB first plus the gain pulses,
sign-extends, and holds interrupts off only while clocking."""

from hypothesis import given
from hypothesis import strategies as st

from firmware.hal.hx711 import Hx711
from tests.boards.fakes import machine as fake_machine


class Chip:
    """An HX711 that shifts out `value` (24-bit two's complement) one bit per PD_SCK pulse."""

    def __init__(self, value: int) -> None:
        self.bits = [(value >> (23 - i)) & 1 for i in range(24)]
        self.pulses = 0
        self.ready = True
        self.irq_off_during_pulses = True
        self.dout = fake_machine.Pin(6, fake_machine.Pin.IN)
        self.sck = fake_machine.Pin(7, fake_machine.Pin.OUT, value=0)
        self.dout.reader = self._dout
        self.sck.on_write = self._sck

    def _dout(self) -> int:
        if self.pulses == 0:
            return 0 if self.ready else 1
        i = self.pulses - 1
        return self.bits[i] if i < 24 else 1

    def _sck(self, level: int) -> None:
        if level:
            self.pulses += 1
            self.irq_off_during_pulses &= fake_machine.irqs_disabled()


def _hx(chip: Chip, gain_pulses: int = 25) -> Hx711:
    return Hx711(chip.dout, chip.sck, gain_pulses, fake_machine.disable_irq, fake_machine.enable_irq)


@given(st.integers(-(1 << 23), (1 << 23) - 1), st.sampled_from([25, 26, 27]))
def test_reads_the_signed_24_bit_value_msb_first(value, gain_pulses):
    """Any 24-bit reading comes back signed, after exactly gain_pulses clock pulses."""
    fake_machine.reset()
    chip = Chip(value & 0xFFFFFF)
    hx = _hx(chip, gain_pulses)
    assert hx.raw() == value
    assert chip.pulses == gain_pulses and hx.samples() == 1
    assert chip.sck.level == 0 and chip.irq_off_during_pulses and not fake_machine.irqs_disabled()


def test_no_conversion_no_clocking():
    """With DOUT high poll() reads one pin and leaves PD_SCK alone."""
    chip = Chip(1234)
    chip.ready = False
    hx = _hx(chip)
    assert hx.poll() is False and hx.samples() == 0 and chip.pulses == 0


def test_samples_rise_only_with_new_conversions():
    """The sample count is the number of conversions read, the sign of a live sensor."""
    chip = Chip(-5)
    hx = _hx(chip)
    hx.poll()
    chip.pulses = 0
    chip.ready = False
    assert hx.samples() == 1 and hx.raw() == -5


def test_gain_pulses_outside_the_chip_are_refused():
    """28 pulses select nothing on an HX711: refused with the allowed values."""
    chip = Chip(0)
    try:
        Hx711(chip.dout, chip.sck, 28)
    except ValueError as e:
        assert "25" in str(e) and "28" in str(e)
    else:
        raise AssertionError("28 accepted")
