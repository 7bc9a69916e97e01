"""Tests for hil.mtsics: parsing and formatting MT-SICS reply lines as real balances send them."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.mtsics import (
    BalanceBusy,
    CommandRejected,
    GeneralError,
    MtSicsParseError,
    Overload,
    ParameterRejected,
    Reply,
    Underload,
    encode_command,
    format_reply,
    format_value,
    format_weight_reply,
    parse_reply,
    raise_for_status,
    reply_id_for,
)


def weighed(line):
    """parse_reply for lines that must be a Reply (not an ES/ET/EL line)."""
    parsed = parse_reply(line)
    assert isinstance(parsed, Reply)
    return parsed


def test_stable_weight_reply_from_the_manual():
    """'S S     100.00 g' (the manual's example) is a stable 100.00 g."""
    reply = weighed("S S     100.00 g\r\n")
    assert reply == Reply("S", "S", 100.0, "g")
    assert reply.stable


def test_dynamic_negative_reading_from_si():
    """SI on a moving pan answers 'S D' with the sign right before the digits."""
    reply = weighed("S D      -0.35 g\r\n")
    assert reply == Reply("S", "D", -0.35, "g")
    assert not reply.stable


def test_analytical_balance_reading_with_four_decimals():
    """A 0.1 mg balance's reading keeps all four decimals."""
    assert parse_reply("S S   123.4567 g") == Reply("S", "S", 123.4567, "g")


@pytest.mark.parametrize(
    "line, error_type",
    [("S I", BalanceBusy), ("S +", Overload), ("S -", Underload), ("S L", ParameterRejected)],
)
def test_weight_refusals_parse_and_raise_typed_errors(line, error_type):
    """'S I', 'S +', 'S -', 'S L' carry no weight and raise their own error naming the command."""
    reply = weighed(line + "\r\n")
    assert reply.value is None and reply.status == line[-1]
    with pytest.raises(error_type, match=re.escape(f"'{line}' to 'S'")):
        raise_for_status(reply, "S")


@pytest.mark.parametrize("code, words", [("ES", "syntax"), ("ET", "transmission"), ("EL", "logical")])
def test_general_errors(code, words):
    """ES, ET and EL are whole-line errors that raise CommandRejected with their meaning."""
    reply = parse_reply(code + "\r\n")
    assert reply == GeneralError(code)
    with pytest.raises(CommandRejected, match=f"{code} to 'SI': {words} error"):
        raise_for_status(reply, "SI")


@pytest.mark.parametrize(
    "line, status",
    [("Z A", "A"), ("ZI D", "D"), ("ZI S", "S")],
)
def test_zero_replies_that_succeed(line, status):
    """Z A (zeroed), ZI D (zeroed while unstable), ZI S pass raise_for_status unchanged."""
    reply = parse_reply(line)
    assert reply == Reply(line.split()[0], status)
    assert raise_for_status(reply, line.split()[0]) is reply


@pytest.mark.parametrize("line, error_type", [("Z I", BalanceBusy), ("Z +", Overload), ("Z -", Underload)])
def test_zero_refusals(line, error_type):
    """Z I (no stability), Z + / Z - (outside the zero-setting range) raise."""
    with pytest.raises(error_type):
        raise_for_status(parse_reply(line), "Z")


def test_serial_number_quoted_and_unquoted():
    """I4 answers with the serial number, quoted on current balances, bare on older ones."""
    assert parse_reply('I4 A "0123456789"\r\n') == Reply("I4", "A", fields=("0123456789",))
    assert parse_reply("I4 A 0123456789") == Reply("I4", "A", fields=("0123456789",))


def test_balance_data_keeps_spaces_inside_quotes():
    """I2's quoted text with spaces is one field, not a weight."""
    reply = parse_reply('I2 A "XS204 Excellence 220.0090 g"')
    assert reply == Reply("I2", "A", fields=("XS204 Excellence 220.0090 g",))


def test_level_reply_with_several_numbers_is_fields_not_a_weight():
    """'I1 A 01 2.00 ...' is a list of fields: numbers without a unit are not weights."""
    reply = weighed("I1 A 01 2.00 2.00 2.00 1.0")
    assert reply.value is None
    assert reply.fields == ("01", "2.00", "2.00", "2.00", "1.0")


def test_tare_reply_carries_a_weight_with_status_a():
    """'T A 2.486 g' (tare taken) carries the tare weight."""
    assert parse_reply("T A      2.486 g") == Reply("T", "A", 2.486, "g")


@pytest.mark.parametrize("line", ["", "\r\n", "hello world", "S", "S X 1.00 g", "s s 1.00 g"])
def test_lines_that_are_not_mt_sics_raise_parse_error(line):
    """Empty lines, a lone ID, unknown status letters and lower case are not replies."""
    with pytest.raises(MtSicsParseError, match="not MT-SICS"):
        parse_reply(line)


def test_value_unit_and_more_is_kept_as_fields_not_a_weight():
    """Three fields after the status are not 'value unit': no weight is read from them."""
    reply = weighed("S S 1.00 g extra")
    assert reply.value is None and reply.fields == ("1.00", "g", "extra")


def test_non_ascii_line_suggests_the_baud_rate():
    """Garbage bytes (wrong baud rate) are refused with a hint."""
    with pytest.raises(MtSicsParseError, match="baud rate"):
        parse_reply("S S  \xff\xfe 1.00 g")


def test_format_weight_reply_matches_the_manual_layout():
    """100 g on a 0.01 g balance is 'S S' + space + '    100.00' + space + 'g'."""
    assert format_weight_reply("S", "S", 100.0, "g", 2) == "S S     100.00 g"
    assert format_weight_reply("S", "D", -0.35, "g", 2) == "S D      -0.35 g"
    assert format_weight_reply("S", "S", 0.00004, "g", 4) == "S S     0.0000 g"


def test_negative_zero_is_shown_as_zero():
    """A reading that rounds to zero from below shows 0.00, not -0.00."""
    assert format_value(-0.001, 2) == "      0.00"


def test_value_wider_than_the_field_is_refused():
    """123456789.00 needs 12 characters; the field holds 10."""
    with pytest.raises(ValueError, match="needs 12 characters"):
        format_value(123456789.0, 2)


def test_format_reply_quotes_fields():
    """Text fields are quoted as current balances do."""
    assert format_reply("Z", "A") == "Z A"
    assert format_reply("I4", "A", "0123456789") == 'I4 A "0123456789"'


def test_encode_command_appends_cr_lf():
    """Commands go out upper case, parameters space separated, closed by CR LF."""
    assert encode_command("S") == b"S\r\n"
    assert encode_command("ZI") == b"ZI\r\n"
    assert encode_command("@") == b"@\r\n"
    assert encode_command("TA", "2.486", "g") == b"TA 2.486 g\r\n"


def test_lower_case_command_is_refused():
    """MT-SICS commands are upper case; 's' would get ES back."""
    with pytest.raises(ValueError, match="upper-case"):
        encode_command("s")


def test_reply_ids():
    """SI is answered by S, @ by I4, the others by their own name."""
    assert [reply_id_for(c) for c in ("S", "SI", "@", "Z", "ZI", "I4")] == ["S", "S", "I4", "Z", "ZI", "I4"]


@st.composite
def readings(draw):
    """(value, decimals) whose text fits the field: sign + 9 digits, or sign + 8 digits + point."""
    decimals = draw(st.integers(min_value=0, max_value=5))
    limit = 10**8 - 1 if decimals else 10**9 - 1
    counts = draw(st.integers(min_value=-limit, max_value=limit))
    return counts / 10**decimals, decimals


@given(
    reading=readings(),
    status=st.sampled_from(["S", "D"]),
    unit=st.sampled_from(["g", "mg", "kg", "ct", "lb", "oz"]),
)
def test_weight_reply_round_trip(reading, status, unit):
    """Any reading formatted as the balance does parses back to the same value and unit."""
    value, decimals = reading
    line = format_weight_reply("S", status, value, unit, decimals)
    assert len(line) == len("S S ") + 10 + 1 + len(unit)
    assert line[4:14].strip() == line.split()[2]
    parsed = weighed(line + "\r\n")
    assert (parsed.command, parsed.status, parsed.unit) == ("S", status, unit)
    assert parsed.value == pytest.approx(value, abs=10**-decimals / 2)


@given(
    command=st.sampled_from(["I4", "I2", "I3", "Z", "ZI", "I10"]),
    fields=st.lists(
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"'), max_size=20),
        max_size=3,
    ),
)
def test_text_reply_round_trip(command, fields):
    """Quoted fields, spaces and digits included, parse back to the same strings."""
    parsed = parse_reply(format_reply(command, "A", *fields))
    assert parsed == Reply(command, "A", fields=tuple(fields))
