"""A lab balance on a serial line, spoken to in MT-SICS: the bench's volume meter.

In the gravimetric accuracy test the pump drips water into a beaker on the balance and the
harness reads the weight every 30 s:

    with Balance("/dev/ttyUSB0") as balance:
        balance.zero()                        # empty pan: Z -> Z A
        balance.tare()                        # beaker on: T -> T S      52.30 g
        reading = balance.weight_immediate()  # SI -> S D      12.34 g
        reading.value_g, reading.stable       # (12.34, False)

The port is a pyserial URL (`serial.serial_for_url`), so `/dev/ttyUSB0`, `socket://host:port`,
`loop://` and the pty of the simulated balance all work unchanged. MT-SICS balances leave
the factory at 9600 baud, 8 data bits, no parity, 1 stop bit, no handshake; every line ends
in CR LF. A command that gets no complete reply in time raises BalanceTimeout, which says
what was sent, what came back and on which port.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol

import serial

from hil import mtsics

DEFAULT_BAUDRATE = 9600
DEFAULT_TIMEOUT_S = 2.0
UNIT_TO_G = {"g": 1.0, "mg": 1e-3, "kg": 1e3}
TRANSCRIPT_LINES = 100


class BalanceError(Exception):
    """The balance could not be reached or answered something unusable."""


class BalanceTimeout(BalanceError):
    """No complete reply line within the time-out."""


class SerialPort(Protocol):
    """What the client needs of a pyserial port (any `serial_for_url` result has it)."""

    @property
    def timeout(self) -> float | None: ...

    @timeout.setter
    def timeout(self, timeout: float | None) -> None: ...

    def write(self, data: bytes, /) -> int | None: ...

    def read_until(self, expected: bytes = ..., size: int | None = ...) -> bytes: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Reading:
    """One weight from the balance, in grams, with its stability flag and the raw line."""

    value_g: float
    stable: bool
    raw: str


class Balance:
    """Client for an MT-SICS balance (levels 0/1: S, SI, Z, ZI, T, @, I2, I3, I4)."""

    def __init__(
        self,
        url: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        baudrate: int = DEFAULT_BAUDRATE,
        open_port: Callable[..., SerialPort] = serial.serial_for_url,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.baudrate = baudrate
        # (sent, received) pairs, newest last: what a failing bench test shows.
        self.transcript: deque[tuple[str, str]] = deque(maxlen=TRANSCRIPT_LINES)
        try:
            self._port = open_port(url, baudrate=baudrate, timeout=timeout_s)
        except (serial.SerialException, OSError, ValueError) as error:
            raise BalanceError(
                f"cannot open the balance port {url}: {error}. Check the path or URL and that "
                "the balance (or its USB adapter) is connected."
            ) from error

    def close(self) -> None:
        self._port.close()

    def __enter__(self) -> Balance:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def weight_stable(self, timeout_s: float | None = None) -> Reading:
        """S: wait for a stable weight (the balance answers 'S I' if it never settles)."""
        return self._reading("S", timeout_s)

    def weight_immediate(self, timeout_s: float | None = None) -> Reading:
        """SI: the weight now, stable or not (status S or D)."""
        return self._reading("SI", timeout_s)

    def zero(self, timeout_s: float | None = None) -> None:
        """Z: zero once the weight is stable."""
        self.request("Z", timeout_s)

    def zero_immediately(self, timeout_s: float | None = None) -> bool:
        """ZI: zero now; True if the balance was stable when it did."""
        return self.request("ZI", timeout_s).stable

    def tare(self, timeout_s: float | None = None) -> float:
        """T: tare once stable (e.g. the empty beaker); returns the tare weight in grams."""
        return self._reading("T", timeout_s).value_g

    def serial_number(self) -> str:
        """I4: the balance's serial number."""
        return self._text_field("I4")

    def identity(self) -> dict[str, str]:
        """I2, I3, I4: model and capacity, software version, serial number (for the report)."""
        return {"model": " ".join(self.request("I2").fields), "software": " ".join(self.request("I3").fields),
                "serial": self.serial_number()}

    def reset(self) -> str:
        """@: cancel pending commands (tare and zero stay); answers the serial number."""
        return self._text_field("@")

    def request(self, command: str, timeout_s: float | None = None) -> mtsics.Reply:
        """Send one command, read its reply line, and raise if the balance refused it."""
        line = self._exchange(command, timeout_s)
        try:
            reply = mtsics.parse_reply(line)
        except mtsics.MtSicsParseError as error:
            raise BalanceError(f"{error} (sent {command!r} on {self.url})") from None
        if isinstance(reply, mtsics.Reply) and reply.command != mtsics.reply_id_for(command):
            raise BalanceError(
                f"sent {command!r} on {self.url} and expected a reply starting "
                f"{mtsics.reply_id_for(command)!r}, got {line!r}; another program may share the port"
            )
        try:
            return mtsics.raise_for_status(reply, command)
        except mtsics.MtSicsError as error:
            raise type(error)(f"{error} (port {self.url})") from None

    def _reading(self, command: str, timeout_s: float | None) -> Reading:
        reply = self.request(command, timeout_s)
        if reply.value is None or reply.unit is None:
            raise BalanceError(f"reply to {command!r} on {self.url} carries no weight: {self.transcript[-1][1]!r}")
        if reply.unit not in UNIT_TO_G:
            raise BalanceError(
                f"balance on {self.url} reports in {reply.unit!r}; set its unit 1 to g (or mg, kg)"
            )
        return Reading(reply.value * UNIT_TO_G[reply.unit], reply.stable, self.transcript[-1][1])

    def _text_field(self, command: str) -> str:
        reply = self.request(command)
        if not reply.fields:
            raise BalanceError(f"reply to {command!r} on {self.url} is empty: {self.transcript[-1][1]!r}")
        return reply.fields[0]

    def _exchange(self, command: str, timeout_s: float | None) -> str:
        """Write the command, return its reply line without CR LF; raise on time-out."""
        wait_s = self.timeout_s if timeout_s is None else timeout_s
        if self._port.timeout != wait_s:  # each change reconfigures a real port
            self._port.timeout = wait_s
        # A reply that arrived after an earlier time-out must not answer this command.
        self._port.reset_input_buffer()
        self._port.write(mtsics.encode_command(command))
        raw = self._port.read_until(b"\n")
        received = raw.decode("ascii", errors="backslashreplace")
        self.transcript.append((command, received))
        if not raw.endswith(b"\n"):
            raise BalanceTimeout(
                f"no complete reply to {command!r} from the balance on {self.url} within "
                f"{wait_s:g} s; received {received!r}. Check the cable and the balance's interface "
                f"settings (MT-SICS, {self.baudrate} baud, 8N1, CR LF) and that it is switched on."
            )
        return received.rstrip("\r\n")
