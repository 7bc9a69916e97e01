"""Serial ports a person gives on a command line: checked before anything uses them.

A port that is missing, held by another program or not ours to open is the commonest bench
mistake; the harness and the flash tool say so in one line, naming the port, the ports that
exist, and what to check, instead of failing later with a traceback:

    pump port /dev/ttyACM0 does not exist; serial ports on this machine: /dev/ttyUSB0. Check the
    USB cable and that the board is powered, then give the right --port.
"""

from __future__ import annotations

import errno
import os

import serial


class PortError(Exception):
    """A port the user can fix: the message says which and how."""


def list_ports() -> str:
    """The serial ports this machine has, as one phrase."""
    try:
        from serial.tools import list_ports as lp

        names = [p.device for p in lp.comports()]
    except Exception:  # noqa: BLE001 - a listing is a hint, never a reason to fail
        names = []
    return ", ".join(names) if names else "none found (is the board plugged in?)"


def check_port(port: str, role: str = "pump", option: str = "--port") -> str:
    """`port` if it can be opened now; PortError naming it, the ports there are and what to check.

    A URL (socket://, loop://, rfc2217://) is left to its opener. A device path must exist and
    open: opening with an exclusive lock finds a port another program (a serial monitor, Thonny,
    mpremote) has locked; opening it is the only way to know, and it changes nothing.
    """
    if "://" in port:
        return port
    if not os.path.exists(port):
        raise PortError("%s port %s does not exist; serial ports on this machine: %s. Check the USB cable "
                        "and that the device is powered, then give the right %s." % (role, port, list_ports(), option))
    try:
        serial.Serial(port, exclusive=True, timeout=0).close()
    except (serial.SerialException, OSError, ValueError) as e:
        raise PortError("%s port %s cannot be opened (%s); serial ports on this machine: %s. %s"
                        % (role, port, _reason(e), list_ports(), _advice(e))) from e
    return port


def _reason(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:160]


def _advice(e: Exception) -> str:
    code = getattr(e, "errno", None)
    if code in (errno.EACCES, errno.EPERM) or "ermission denied" in str(e):
        return "Check the port's permissions (on Linux: be in the dialout group, then log in again)."
    if code == errno.EBUSY or "lock" in str(e) or "busy" in str(e).lower():
        return "Another program holds it: close any serial monitor, Thonny or mpremote session."
    return "Check that it is a serial device and that no other program holds it."
