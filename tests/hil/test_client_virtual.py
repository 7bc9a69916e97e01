"""The host client against the firmware over a real pty: in-process (CPython) and in MicroPython."""

import os
import re
import subprocess
import sys
import threading
import time

import pytest

from firmware import frames
from hil.acceptance.helpers import monitor_reports, real_pace
from hil.client import PumpClient, PumpError, PumpMismatch, PumpTimeout
from hil.pty_link import PtyLink
from hil.virtual_board import ROOT, VirtualBoard

RUNTIMES = ["cpython", "micropython"]
STANDARD = dict(drug="ketamine", profile="depression", conc_ug_ml=10000, weight_g=70000,
                dose_ug_kg=500, duration_min=40, syringe="bd_plastipak_50")


@pytest.fixture(params=RUNTIMES)
def board(request):
    with VirtualBoard(request.param, speed=0).start() as vb:
        yield vb


@pytest.fixture
def pump(board, tmp_path):
    with PumpClient.open(board.port, log_path=tmp_path / "serial.log") as client:
        yield client


def test_identify_round_trip(pump, board):
    """ID comes back with firmware, board and library versions."""
    ident = pump.identify()
    assert ident["board"] == "VIRTUAL" and ident["library"].startswith("KET-")
    assert board.backend.runtime in board.backend.version


def test_program_refusal_and_status_round_trip(pump):
    """A valid program is answered with computed values; a hard-limit one is refused by field."""
    a = pump.program(**STANDARD)
    assert a["volume_nl"] == 3500000 and a["state"] == "programmed"
    with pytest.raises(PumpError) as e:
        pump.program(**{**STANDARD, "syringe": "bd_plastipak_60"})
    assert e.value.code == "UNKNOWN_SYRINGE" and e.value.field == "syringe"
    assert pump.status()["state"] == "programmed"


def test_full_infusion_counts_exactly_the_plan(pump, board):
    """program -> start -> complete: counted steps equal the plan's total exactly."""
    total = pump.program(**STANDARD)["total_steps"]
    with real_pace(board):
        monitor_reports(pump)
        pump.start()
    st = pump.wait_for_state(("complete",), timeout_s=60)
    assert st["steps"] == total and st["total_steps"] == total
    assert abs(st["delivered_nl"] - 3500000) <= 140
    kinds = [(k, v) for _, k, v in pump.event_log() if not v.endswith("_STALE")]  # the monitor reported once
    assert kinds == [("j.boot", "power"), ("state", "programmed"), ("state", "running"), ("warning", "NEAR_END"),
                     ("state", "complete")]


def test_disconnect_and_reconnect_mid_infusion(board, tmp_path):
    """The infusion goes on while the host is away; after reconnecting, status is right."""
    with PumpClient.open(board.port, log_path=tmp_path / "a.log") as first:
        first.program(**STANDARD)
        with real_pace(board):
            monitor_reports(first)
            first.start()
        steps_before = first.status()["steps"]
    time.sleep(0.2)  # host away; the board keeps running at full speed
    with PumpClient.open(board.port, log_path=tmp_path / "b.log") as second:
        st = second.status()
        assert st["state"] in ("running", "complete") and st["steps"] >= steps_before
        assert second.seq > 0  # continued the pump's sequence numbers
        second.wait_for_state(("complete",), timeout_s=60)
        assert second.status()["steps"] == second.status()["total_steps"]


def test_damaged_answer_is_retried_with_the_same_seq(board, tmp_path):
    """A CRC-damaged answer makes the client retry; the pump answers again without acting twice."""
    with PumpClient.open(board.port, log_path=tmp_path / "s.log", timeout_s=0.5) as pump:
        pump.program(**STANDARD)
        with real_pace(board):
            monitor_reports(pump)
            board.corrupt_answers = 1
            assert pump.start()["state"] == "running"
        assert pump.crc_errors == 1
        stats = pump.stats()
        assert stats["retries"] == 1 and stats["frames"] == 5  # ID, PROGRAM, VITALS, START, STATS


def test_timeout_says_what_was_sent_and_where_the_log_is(tmp_path):
    """Against a port that never answers, the error names the frame, the port and the log."""
    silent = PtyLink()
    try:
        log = tmp_path / "silent.log"
        with pytest.raises(PumpTimeout) as e:
            PumpClient.open(silent.path, log_path=log, timeout_s=0.2)
        text = str(e.value)
        assert "ID" in text and silent.path in text and str(log) in text
        assert log.read_text().count("> ID") == 3  # first try and two retries, all logged
    finally:
        silent.close()


def test_raw_garbage_over_the_wire_changes_nothing(pump):
    """Noise and an overlong line through the real pty are refused and counted; the pump is unchanged."""
    pump.program(**STANDARD)
    pump.send_raw(b"\x00\x01\xfe garbage\n" + b"Z" * 500 + b"\n" + b"3 START *deadbeef\n")
    time.sleep(0.1)
    st = pump.status()
    assert st["state"] == "programmed"
    stats = pump.stats()
    assert stats["bad_frame"] >= 1 and stats["too_long"] == 1 and stats["crc"] == 1


def test_command_line_serves_a_pty():
    """`python -m hil virtual` prints its pty path and answers there until stopped."""
    proc = subprocess.Popen([sys.executable, "-m", "hil", "virtual", "--speed", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"command link: (\S+)", line)
        assert m, line
        with PumpClient.open(m.group(1)) as pump:
            assert pump.identify()["board"] == "VIRTUAL"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_unknown_runtime_is_a_clear_error():
    """A runtime that does not exist is refused by name."""
    with pytest.raises(ValueError, match="runtime 'jython'"):
        VirtualBoard("jython")
    assert os.path.exists(ROOT / "boards" / "VIRTUAL" / "board.json")


def test_selftest_on_the_virtual_board(board, tmp_path):
    """With the syringe out, the self-test passes over the real pty in both runtimes."""
    plant = board.plant
    plant.switches = 0  # no syringe, plunger free
    with PumpClient.open(board.port, log_path=tmp_path / "st.log") as pump:
        assert pump.selftest() == {"result": "pass", "pins": "ok", "force_sensor": "ok", "step_counter": "ok"}


def test_socket_transport_reaches_the_same_pump(board, tmp_path):
    """socket://127.0.0.1:PORT through a loopback relay to the pty works unchanged."""
    import select
    import socket
    import threading

    with PumpClient.open(board.port) as direct:
        direct.set_telemetry(0)  # at full simulation speed telemetry would be >10,000 lines/s
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def relay():
        conn, _ = server.accept()
        fd = os.open(board.port, os.O_RDWR | os.O_NOCTTY)
        try:
            while not stop.is_set():
                ready, _, _ = select.select([conn, fd], [], [], 0.05)
                if conn in ready:
                    data = conn.recv(65536)
                    if not data:
                        break
                    os.write(fd, data)
                if fd in ready:
                    conn.sendall(os.read(fd, 65536))
        finally:
            os.close(fd)
            conn.close()

    t = threading.Thread(target=relay, daemon=True)
    t.start()
    try:
        with PumpClient.open(f"socket://127.0.0.1:{port}", log_path=tmp_path / "sock.log") as pump:
            assert pump.identify()["board"] == "VIRTUAL"
            assert pump.program(**STANDARD)["state"] == "programmed"
            with real_pace(board):
                monitor_reports(pump)
                assert pump.start()["state"] == "running"
    finally:
        stop.set()
        t.join(timeout=5)
        server.close()


def test_client_follows_the_pump_after_a_sequence_refusal(board, tmp_path):
    """If another host moved the pump's sequence on, SEQ_ORDER tells the client the next number."""
    with PumpClient.open(board.port, log_path=tmp_path / "a.log", timeout_s=0.3) as pump:
        for _ in range(5):
            pump.status()
        pump.seq = 60000  # behind the pump's last number, as a stale host would be
        assert pump.status()["state"] == "idle"
        assert pump.seq == 6  # five statuses were 1..5: the pump asked for 6


def test_client_takes_a_reused_seq_refusal_as_a_sequence_refusal(board, tmp_path):
    """Another host used the client's next number for START (the issue's `3 START`); the client's
    `3 STOP` is refused (SEQ_REUSED), not answered `OK START`, and goes again as 4: the pump stops."""
    with PumpClient.open(board.port, log_path=tmp_path / "a.log", timeout_s=0.3) as pump:
        pump.program(**STANDARD)
        with real_pace(board):
            monitor_reports(pump)
            pump.send_raw(frames.seal(f"{pump.seq + 1} START"))  # the other host
            assert any(line.endswith(b"OK START state=running") for line in
                       [frames.split_crc(x)[0] for x in pump.read_lines(0.3)])
        assert pump.stop()["state"] == "idle"
        assert pump.status()["state"] == "idle" and pump.stats()["seq_reused"] == 1


class WrongAnswerPump:
    """A pump that matches a retry on the sequence number alone, as this firmware did before it
    kept the last frame's CRC: every frame is answered `<seq> OK START state=running`. It serves
    a real pty, line by line, from a thread."""

    def __init__(self) -> None:
        self.link = PtyLink()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for line in self.link.lines(self._stop):
            tag = line.split(b" ", 1)[0].decode(errors="replace")
            if tag == "ID":
                self.link.write(frames.seal("- OK ID fw=old board=VIRTUAL library=x syringes=x last_seq=2"))
            else:
                self.link.write(frames.seal(f"{tag} OK START state=running"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.link.close()


def test_stop_answered_with_ok_start_raises_instead_of_succeeding(tmp_path):
    """`3 OK START` to the client's `3 STOP` is not a success: PumpMismatch names both."""
    fake = WrongAnswerPump()
    try:
        with PumpClient.open(fake.link.path, log_path=tmp_path / "w.log", timeout_s=0.5) as pump:
            with pytest.raises(PumpMismatch) as e:
                pump.stop()
            assert e.value.command == "STOP" and e.value.seq == "3"
            assert "OK START" in str(e.value) and "STOP" in str(e.value)
    finally:
        fake.close()


def test_another_patient_over_the_link(pump, board):
    """After a dose for 70 kg, a program for 150 kg is refused naming both weights; the client's
    re-identification restating 70 kg lets it through."""
    pump.program(**STANDARD)
    with real_pace(board):
        monitor_reports(pump)
        pump.start()
    pump.stop()
    other = {**STANDARD, "weight_g": 150000}
    with pytest.raises(PumpError) as e:
        pump.program(**other)
    assert (e.value.code, e.value.field, e.value.value, e.value.allowed) == ("PATIENT_MISMATCH", "weight_g", 150000, 70000)
    assert pump.reidentify_patient(150000, 70000)["state"] == "idle"
    assert pump.program(**other)["state"] == "programmed"
