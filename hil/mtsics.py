"""MT-SICS, the Mettler Toledo Standard Interface Command Set (levels 0 and 1).

A host sends an upper-case command closed by CR LF; the balance answers with one line,
also closed by CR LF. Asking for the stable weight of 100 g on a 0.01 g balance:

    host:    S<CR><LF>
    balance: S S     100.00 g<CR><LF>

A reply with a weight is `ID Status WeightValue Unit`, one space between fields:
- ID: the reply's name, 1-5 characters (`SI`, "send immediately", is answered by `S`);
- Status, 1 character: `S` stable, `D` dynamic (unstable, only from SI and friends);
- WeightValue: 10 characters, right aligned, the sign directly before the first digit,
  leading zeros suppressed except the one before the decimal point (`     -0.35`);
- Unit: 1-5 characters, as set for unit 1 (`g`, `mg`).

Replies without a weight are `ID Status [fields]`: `Z A` (zeroed), `ZI D` (zeroed while
unstable), `I4 A "0123456789"` (serial number, quoted on current balances). Status letters
that report a refusal: `I` not executable (busy, or no stability within the time-out),
`L` parameter wrong, `+` overload / above the zero range, `-` underload / below it.
General errors are the whole line: `ES` syntax error (command not recognised), `ET`
transmission error (a faulty character: parity, baud rate), `EL` logical error.

`parse_reply` turns a line into a `Reply` or a `GeneralError`; `raise_for_status` turns a
refusal into a typed exception; the `format_*` functions write lines as the balance does
(used by the simulated balance). Sources: MT-SICS reference manuals 11780711 (New Classic)
and 30324923 (XPR/XSR), "Format of responses with weight value".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

LINE_END = "\r\n"
VALUE_WIDTH = 10
MAX_ID_LENGTH = 5
MAX_UNIT_LENGTH = 5

STABLE = "S"
DYNAMIC = "D"
EXECUTED = "A"
MORE_LINES = "B"
NOT_EXECUTABLE = "I"
BAD_PARAMETER = "L"
OVERLOAD = "+"
UNDERLOAD = "-"
STATUSES = (STABLE, DYNAMIC, EXECUTED, MORE_LINES, NOT_EXECUTABLE, BAD_PARAMETER, OVERLOAD, UNDERLOAD)

GENERAL_ERRORS = {
    "ES": "syntax error: the balance did not recognise the command",
    "ET": "transmission error: the balance received a faulty character (check baud rate, parity, cable)",
    "EL": "logical error: the balance cannot execute the command (parameter not allowed)",
}

# The ID a command's reply carries; @ (reset) answers with the serial number like I4.
REPLY_ID = {"S": "S", "SI": "S", "SIR": "S", "SU": "SU", "SIU": "SU", "@": "I4"}

_TOKEN = re.compile(r'"[^"]*"|\S+')
_ID = re.compile(r"^(?:@|[A-Z][A-Z0-9]{0,4})$")
_UNIT = re.compile(r"^[A-Za-z%/]{1,5}$")


@dataclass(frozen=True)
class Reply:
    """One answer line: its ID, status letter, weight if it carries one, other fields."""

    command: str
    status: str
    value: float | None = None
    unit: str | None = None
    fields: tuple[str, ...] = ()

    @property
    def stable(self) -> bool:
        return self.status == STABLE


@dataclass(frozen=True)
class GeneralError:
    """An `ES`, `ET` or `EL` line: the balance refused the command as a whole."""

    code: str

    @property
    def meaning(self) -> str:
        return GENERAL_ERRORS[self.code]


class MtSicsError(Exception):
    """Base of everything the protocol can refuse or garble."""


class MtSicsParseError(MtSicsError, ValueError):
    """A line that is not an MT-SICS reply."""


class CommandRejected(MtSicsError):
    """The balance answered ES, ET or EL."""


class BalanceBusy(MtSicsError):
    """Status I: busy with another command, or not stable within the balance's time-out."""


class ParameterRejected(MtSicsError):
    """Status L: the command was understood but its parameter is wrong."""


class Overload(MtSicsError):
    """Status +: above the weighing range (or, for Z, above the zero-setting range)."""


class Underload(MtSicsError):
    """Status -: below the weighing range (or, for Z, below the zero-setting range)."""


_REFUSALS = {
    NOT_EXECUTABLE: (BalanceBusy, "busy, or not stable within its time-out; wait and retry"),
    BAD_PARAMETER: (ParameterRejected, "parameter wrong or out of range"),
    OVERLOAD: (Overload, "overload: above the weighing (or zero-setting) range; unload the pan"),
    UNDERLOAD: (Underload, "underload: below the weighing (or zero-setting) range; is the pan on?"),
}


def parse_reply(line: str) -> Reply | GeneralError:
    """Parse one reply line (CR LF optional) into a Reply or a GeneralError."""
    text = line.rstrip("\r\n")
    if not text.isascii():
        raise MtSicsParseError(f"reply {line!r} has non-ASCII characters; check the baud rate")
    tokens = _TOKEN.findall(text)
    if len(tokens) == 1 and tokens[0] in GENERAL_ERRORS:
        return GeneralError(tokens[0])
    if len(tokens) < 2 or not _ID.match(tokens[0]) or tokens[1] not in STATUSES:
        raise MtSicsParseError(
            f"reply {line!r} is not MT-SICS: expected 'ID Status [value unit | fields]' "
            f"with a status in {' '.join(STATUSES)}, or ES/ET/EL"
        )
    command, status, rest = tokens[0], tokens[1], tokens[2:]
    weight = _weight(rest)
    if weight is not None:
        return Reply(command, status, weight[0], weight[1])
    return Reply(command, status, fields=tuple(_unquote(token) for token in rest))


def raise_for_status(reply: Reply | GeneralError, command: str) -> Reply:
    """Return the reply if the balance did what `command` asked, else raise why not."""
    if isinstance(reply, GeneralError):
        raise CommandRejected(f"balance answered {reply.code} to {command!r}: {reply.meaning}")
    refusal = _REFUSALS.get(reply.status)
    if refusal is not None:
        error_type, meaning = refusal
        raise error_type(f"balance answered '{reply.command} {reply.status}' to {command!r}: {meaning}")
    return reply


def format_value(value: float, decimals: int) -> str:
    """The 10-character, right-aligned weight field, e.g. '    100.00'."""
    if not math.isfinite(value):
        raise ValueError(f"weight {value!r} cannot be shown; report overload or underload instead")
    text = f"{value:.{decimals}f}"
    if float(text) == 0.0:
        text = f"{0.0:.{decimals}f}"  # a balance shows 0.00, never -0.00
    if len(text) > VALUE_WIDTH:
        raise ValueError(
            f"weight {text} needs {len(text)} characters; the MT-SICS field holds {VALUE_WIDTH}"
        )
    return text.rjust(VALUE_WIDTH)


def format_weight_reply(command: str, status: str, value: float, unit: str, decimals: int) -> str:
    """A reply line with a weight, without the CR LF: 'S S     100.00 g'."""
    _check_id(command)
    if status not in (STABLE, DYNAMIC, EXECUTED):
        raise ValueError(f"a weight reply has status S, D or A; got {status!r}")
    if not _UNIT.match(unit):
        raise ValueError(f"unit {unit!r} must be 1-{MAX_UNIT_LENGTH} letters, e.g. 'g' or 'mg'")
    return f"{command} {status} {format_value(value, decimals)} {unit}"


def format_reply(command: str, status: str, *fields: str) -> str:
    """A reply line without a weight, fields quoted: 'Z A', 'I4 A "0123456789"'."""
    _check_id(command)
    if status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {' '.join(STATUSES)}")
    quoted = [f'"{field}"' for field in fields]
    return " ".join([command, status, *quoted])


def encode_command(command: str, *params: str) -> bytes:
    """A command line ready for the wire: 'S' -> b'S\\r\\n'."""
    _check_id(command)
    return (" ".join([command, *params]) + LINE_END).encode("ascii")


def reply_id_for(command: str) -> str:
    """The ID the balance's reply to `command` starts with (SI is answered by S)."""
    name = command.split(" ", 1)[0]
    return REPLY_ID.get(name, name)


def _weight(rest: list[str]) -> tuple[float, str] | None:
    if len(rest) != 2 or rest[1].startswith('"') or not _UNIT.match(rest[1]):
        return None
    try:
        value = float(rest[0])
    except ValueError:
        return None
    return (value, rest[1]) if math.isfinite(value) else None


def _unquote(token: str) -> str:
    return token[1:-1] if len(token) >= 2 and token[0] == token[-1] == '"' else token


def _check_id(command: str) -> None:
    if not _ID.match(command):
        raise ValueError(
            f"command {command!r} is not an MT-SICS name: '@' or 1-{MAX_ID_LENGTH} upper-case "
            "letters and digits starting with a letter"
        )
