"""Tests for hil.balance: the MT-SICS client over pyserial URLs, against scripted replies on a pty."""

import contextlib
import os
import select
import threading
import tty

import pytest

from hil.balance import Balance, BalanceError, BalanceTimeout
from hil.mtsics import BalanceBusy, CommandRejected, Overload


@contextlib.contextmanager
def scripted_port(replies):
    """A pty whose far end answers each command line with replies[command] (raw bytes).

    A list of byte strings answers successive sends of the command in turn. A command missing
    from `replies` gets no answer at all. Yields (port path, commands seen).
    """
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)
    seen, stop = [], threading.Event()

    def serve():
        pending = b""
        while not stop.is_set():
            if not select.select([master_fd], [], [], 0.02)[0]:
                continue
            pending += os.read(master_fd, 1024)
            while b"\r\n" in pending:
                line, pending = pending.split(b"\r\n", 1)
                command = line.decode()
                seen.append(command)
                reply = replies.get(command, b"")
                if isinstance(reply, list):
                    reply = reply.pop(0)
                os.write(master_fd, reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield os.ttyname(slave_fd), seen
    finally:
        stop.set()
        thread.join()
        os.close(master_fd)
        os.close(slave_fd)


def test_immediate_weight_dynamic_reading():
    """SI answered 'S D      12.34 g' is 12.34 g, not stable; the command went out with CR LF."""
    with scripted_port({"SI": b"S D      12.34 g\r\n"}) as (port, seen), Balance(port) as balance:
        reading = balance.weight_immediate()
    assert (reading.value_g, reading.stable) == (12.34, False)
    assert reading.raw == "S D      12.34 g\r\n"
    assert seen == ["SI"]


def test_stable_weight_in_milligrams_is_converted_to_grams():
    """A balance set to mg: 'S S   1234.5 mg' is 1.2345 g."""
    with scripted_port({"S": b"S S     1234.5 mg\r\n"}) as (port, _), Balance(port) as balance:
        reading = balance.weight_stable()
    assert reading.value_g == pytest.approx(1.2345)
    assert reading.stable


def test_unit_the_client_cannot_convert_is_refused():
    """A balance in carats is refused with what to change on the balance."""
    with scripted_port({"SI": b"S S      10.00 ct\r\n"}) as (port, _), Balance(port) as balance:
        with pytest.raises(BalanceError, match="reports in 'ct'; set its unit 1 to g"):
            balance.weight_immediate()


def test_zero_tare_serial_number_and_reset():
    """Z A, T S <tare>, I4 and @ replies give None, the tare in g and the serial number."""
    replies = {
        "Z": b"Z A\r\n",
        "T": b"T S      52.30 g\r\n",
        "I4": b'I4 A "0123456789"\r\n',
        "@": b'I4 A "0123456789"\r\n',
        "ZI": b"ZI D\r\n",
    }
    with scripted_port(replies) as (port, seen), Balance(port) as balance:
        assert balance.zero() is None
        assert balance.tare() == pytest.approx(52.30)
        assert balance.serial_number() == "0123456789"
        assert balance.reset() == "0123456789"
        assert balance.zero_immediately() is False
    assert seen == ["Z", "T", "I4", "@", "ZI"]


def test_silence_times_out_naming_command_port_and_nothing_received():
    """No reply within the time-out raises BalanceTimeout with what was sent and the port."""
    with scripted_port({}) as (port, _), Balance(port, timeout_s=0.2) as balance:
        with pytest.raises(BalanceTimeout, match=f"no complete reply to 'SI' .* on {port} within 0.2 s; received ''"):
            balance.weight_immediate()


def test_partial_reply_times_out_showing_what_came_back():
    """A reply cut off before CR LF is a time-out that shows the partial line."""
    with scripted_port({"S": b"S S     10"}) as (port, _), Balance(port, timeout_s=0.2) as balance:
        with pytest.raises(BalanceTimeout, match=r"to 'S' .*received 'S S     10'"):
            balance.weight_stable()


def test_per_call_timeout_overrides_the_default():
    """weight_stable(timeout_s=...) waits that long instead of the client's default."""
    with scripted_port({}) as (port, _), Balance(port, timeout_s=30.0) as balance:
        with pytest.raises(BalanceTimeout, match="within 0.1 s"):
            balance.weight_stable(timeout_s=0.1)


def test_reply_to_another_command_is_refused():
    """'Z A' in answer to SI means something else is on the line: refused with both."""
    with scripted_port({"SI": b"Z A\r\n"}) as (port, _), Balance(port) as balance:
        with pytest.raises(BalanceError, match="sent 'SI' .* expected a reply starting 'S', got 'Z A'"):
            balance.weight_immediate()


def test_refusals_raise_typed_errors_with_the_port():
    """'S I' raises BalanceBusy, 'S +' Overload, 'ES' CommandRejected, each naming the port."""
    replies = {"S": b"S I\r\n", "SI": b"S +\r\n", "ZI": b"ES\r\n"}
    with scripted_port(replies) as (port, _), Balance(port) as balance:
        with pytest.raises(BalanceBusy, match=f"port {port}"):
            balance.weight_stable()
        with pytest.raises(Overload, match=f"port {port}"):
            balance.weight_immediate()
        with pytest.raises(CommandRejected, match="ES to 'ZI': syntax error"):
            balance.zero_immediately()


def test_garbled_reply_names_command_and_port():
    """A line that is not MT-SICS (wrong baud rate, other device) is a BalanceError."""
    with scripted_port({"SI": b"hello\r\n"}) as (port, _), Balance(port) as balance:
        with pytest.raises(BalanceError, match=f"'hello' is not MT-SICS.*sent 'SI' on {port}"):
            balance.weight_immediate()


def test_loop_url_echoes_the_command_which_is_not_a_reply():
    """On loop:// the command comes back as its own 'reply' and is refused as not MT-SICS."""
    with Balance("loop://", timeout_s=0.5) as balance:
        with pytest.raises(BalanceError, match="'SI' is not MT-SICS.*on loop://"):
            balance.weight_immediate()
        assert balance.transcript[-1] == ("SI", "SI\r\n")


def test_missing_port_cannot_be_opened():
    """A port that does not exist gives a BalanceError saying which one and what to check."""
    with pytest.raises(BalanceError, match="cannot open the balance port /dev/no-such-balance"):
        Balance("/dev/no-such-balance")


def test_leftover_line_is_discarded_before_the_next_command():
    """An extra line already waiting (e.g. a repeat from SIR) does not answer the next command."""
    replies = {"SI": [b"S D       2.00 g\r\nS D       3.00 g\r\n", b"S S       4.00 g\r\n"]}
    with scripted_port(replies) as (port, _), Balance(port) as balance:
        assert balance.weight_immediate().value_g == 2.0
        assert balance.weight_immediate().value_g == 4.0


def test_identity_for_the_report():
    """I2, I3 and I4 as an Excellence balance answers them: model with capacity, software, serial."""
    replies = {"I2": b'I2 A "XS204 Excellence 220.0090 g"\r\n', "I3": b'I3 A "1.10 10.28.0.493.142"\r\n',
               "I4": b'I4 A "B123456789"\r\n'}
    with scripted_port(replies) as (port, seen), Balance(port) as balance:
        assert balance.identity() == {"model": "XS204 Excellence 220.0090 g", "software": "1.10 10.28.0.493.142",
                                      "serial": "B123456789"}
    assert seen == ["I2", "I3", "I4"]


def test_a_balance_that_cannot_identify_itself_does_not_stop_the_run():
    """A balance answering ES to I3: the report says the identity is unknown, and why."""
    from types import SimpleNamespace

    from hil.pytest_plugin import balance_properties

    replies = {"I2": b'I2 A "XS204 Excellence 220.0090 g"\r\n', "I3": b"ES\r\n"}
    with scripted_port(replies) as (port, _):
        props = balance_properties(SimpleNamespace(balance_url=port), "2026-10-02")
    assert props["balance_model"].startswith("unknown: the balance did not identify itself (balance answered ES")
    assert props["balance_last_calibration"] == "2026-10-02"
