"""A burst of input through the virtual board's real pty leaves the board answering.

10,000 lines in one write once put the sim bus out of step for good (a tick's output length
did not fit its 16-bit field and MicroPython's struct.pack kept the low bits): raw header bytes
leaked into the serial stream and both processes then waited on each other forever.
"""

import threading
import time

import pytest
import serial

from firmware import frames
from hil.client import PumpClient
from hil.virtual_board import VirtualBoard

QUIET_S = 2.0  # no byte for this long: the board has answered what it will
DEADLINE_S = 120.0


def _drain(port: serial.Serial, received: bytearray, stop: threading.Event) -> None:
    while not stop.is_set():
        received.extend(port.read(65536))


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_a_burst_of_10000_lines_leaves_the_pump_answering(runtime, tmp_path):
    """STATUS x 10,000 in one write: every line that comes back is whole and CRC-correct, the
    board never stops, and a framed STATUS afterwards is answered."""
    with VirtualBoard(runtime, speed=0).start() as vb:
        with PumpClient.open(vb.port, log_path=tmp_path / "before.log") as pump:
            pump.set_telemetry(0)  # at full simulation speed telemetry never falls quiet
        port = serial.serial_for_url(vb.port, timeout=0.05)
        received = bytearray()
        stop = threading.Event()
        reader = threading.Thread(target=_drain, args=(port, received, stop), daemon=True)
        reader.start()
        try:
            port.write(b"STATUS\n" * 10000)
            port.flush()
            t0 = last_change = time.monotonic()
            seen = 0
            while time.monotonic() - last_change < QUIET_S and time.monotonic() - t0 < DEADLINE_S:
                time.sleep(0.1)
                assert vb.error is None, vb.error
                if len(received) != seen:
                    seen, last_change = len(received), time.monotonic()
        finally:
            stop.set()
            reader.join(timeout=5)
            port.close()
        assert vb.error is None, vb.error
        lines = bytes(received).split(b"\n")
        assert lines[-1] == b"", "a line cut short"
        answers = 0
        for line in lines[:-1]:
            body, crc = frames.split_crc(line)
            assert crc is not None and frames.crc_ok(body, crc), f"damaged line {line[:80]!r}"
            answers += body.startswith(b"- OK STATUS")
        assert answers > 0
        with PumpClient.open(vb.port, log_path=tmp_path / "after.log", timeout_s=5.0) as pump:
            assert pump.status()["state"] == "idle"
