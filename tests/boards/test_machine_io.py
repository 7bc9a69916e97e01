"""firmware.hal.machine_io: switches by active level, a lazy watchdog, a console link that never
blocks, reset causes by name and board-file errors that name the key."""

import pytest

from firmware.hal import machine_io
from tests.boards.fakes import machine as fake_machine


def test_switches_follow_the_active_level():
    """Closed-to-ground switches read present at 0; with active_level 1 the sense flips."""
    a, b, c = (fake_machine.Pin(n) for n in (10, 11, 13))
    a.level, b.level, c.level = 0, 1, 1
    low = machine_io.PinSwitches(a, b, c, active_level=0)
    high = machine_io.PinSwitches(a, b, c, active_level=1)
    assert (low.syringe_present(), low.plunger_engaged(), low.at_end_stop()) == (True, False, False)
    assert (high.syringe_present(), high.plunger_engaged(), high.at_end_stop()) == (False, True, True)


class FakePoll:
    def __init__(self, stream) -> None:
        self.stream = stream
        self.registered = None

    def register(self, stream, mask) -> None:
        self.registered = (stream, mask)

    def ipoll(self, timeout_ms):
        assert timeout_ms == 0, "the link must never wait"
        return iter([(self.stream, 1)] if self.stream.data else [])


class FakeStream:
    def __init__(self, data: bytes = b"") -> None:
        self.data = bytearray(data)
        self.written = bytearray()

    def readinto(self, buf) -> int:
        n = min(len(buf), len(self.data))
        buf[:n] = self.data[:n]
        del self.data[:n]
        return n

    def write(self, data) -> None:
        self.written.extend(data)


def test_stream_link_reads_what_is_waiting_and_no_more():
    """5 bytes waiting, an 3-byte buffer: 3 now, 2 next, then 0 without blocking."""
    stream = FakeStream(b"ID 1\n")
    link = machine_io.StreamLink(stream, stream, FakePoll(stream))
    buf = bytearray(3)
    assert link.read(buf) == 3 and bytes(buf) == b"ID "
    assert link.read(buf) == 2 and bytes(buf[:2]) == b"1\n"
    assert link.read(buf) == 0
    link.write(b"OK\n")
    assert bytes(stream.written) == b"OK\n"


def test_uart_link_reads_only_what_arrived():
    """UartLink hands over what any() reports, bounded by the buffer."""
    uart = fake_machine.UART(1)
    link = machine_io.UartLink(uart)
    buf = bytearray(4)
    assert link.read(buf) == 0
    uart.rx.extend(b"STATUS\n")
    assert link.read(buf) == 4 and link.read(buf) == 3


@pytest.mark.parametrize("port,cause,name", [
    ("esp32", 1, "power_on"), ("esp32", 3, "watchdog"), ("esp32", 5, "soft"), ("esp32", 99, "unknown_99"),
    ("rp2", 1, "not_watchdog"), ("rp2", 3, "watchdog"), ("rp2", 5, "unknown_5"),
])
def test_reset_cause_names_per_port(port, cause, name):
    """machine.reset_cause() maps to a word from the port's own table. The rp2 port knows only
    whether its watchdog caused the last chip reset, so PWRON_RESET there claims no power cut;
    a code the port does not define is kept in the word."""
    fake_machine.use_port(port)
    fake_machine.set_reset_cause(cause)
    table = machine_io.RP2040_RESET_NAMES if port == "rp2" else machine_io.ESP32_RESET_NAMES
    assert machine_io.reset_cause_name(fake_machine, table) == name


def test_fake_machine_has_each_ports_reset_constants_and_watchdog_limit():
    """The rp2 port defines only PWRON_RESET and WDT_RESET and refuses a WDT over 8388 ms; the
    esp32 port has all five causes and no such limit (MicroPython v1.28.0)."""
    fake_machine.use_port("rp2")
    assert not hasattr(fake_machine, "SOFT_RESET") and fake_machine.WDT_RESET == 3
    with pytest.raises(ValueError, match="8388"):
        fake_machine.WDT(timeout=8389)
    assert fake_machine.WDT(timeout=8388).timeout == 8388
    fake_machine.use_port("esp32")
    assert fake_machine.SOFT_RESET == 5 and fake_machine.WDT(timeout=20_000).timeout == 20_000
    with pytest.raises(ValueError):
        fake_machine.WDT(timeout=0)


def test_board_file_errors_name_file_key_and_value():
    """A pin of the wrong type and a setting out of its set say where to fix them."""
    with pytest.raises(ValueError, match=r"boards/X/board.json: pins.step is 'GP2'"):
        machine_io.pin_number({"step": "GP2"}, "step", "X")
    with pytest.raises(ValueError, match=r"drive.dir_forward_level is 2, expected one of \(0, 1\)"):
        machine_io.setting({"drive": {"dir_forward_level": 2}}, "drive", "dir_forward_level", (0, 1), "X")
