"""The operator protocol on the pump side: framing, sequence numbers, refusals, robustness."""

from firmware import frames
from firmware.controller import PROGRAMMED, RUNNING
from firmware.protocol import MAX_LINE
from tests.firmware.protocol_fixture import STANDARD, Bench


def test_identify_typed_by_hand():
    """A read-only command typed without seq or CRC is answered, tagged '-'."""
    b = Bench()
    (ans,) = b.answers(b.send(b"ID\r\n"))
    assert ans.startswith("- OK ID fw=") and "board=VIRTUAL" in ans and "last_seq=0" in ans
    assert " build=source " in ans  # no build.json beside the source tree: not a stamped image


def test_identify_names_the_interpreter_version_and_port():
    """ID says where the firmware runs (interpreter-version-port), in either interpreter."""
    import sys

    b = Bench()
    (ans,) = b.answers(b.send(b"ID\r\n"))
    v = sys.implementation.version
    expected = "runtime=%s-%d.%d.%d-%s" % (sys.implementation.name, v[0], v[1], v[2], sys.platform)
    assert expected in ans


def test_program_and_start_framed():
    """A framed PROGRAM answers with the computed values; START runs the pump."""
    b = Bench()
    (ans,) = b.answers(b.framed(1, "PROGRAM " + STANDARD))
    assert ans.startswith("1 OK PROGRAM state=programmed")
    assert "volume_nl=3500000" in ans and "rate_nl_h=5250000" in ans and "soft=-" in ans
    (ans,) = b.answers(b.framed(2, "START"))
    assert ans == "2 OK START state=running" and b.ctl.state == RUNNING


def test_therapy_command_without_crc_is_refused():
    """PROGRAM or START typed without a CRC does nothing."""
    b = Bench()
    (ans,) = b.answers(b.send(("7 PROGRAM " + STANDARD + "\n").encode()))
    assert ans.startswith("- ERR CRC_REQUIRED")
    (ans,) = b.answers(b.send(b"START\n"))
    assert ans.startswith("- ERR CRC_REQUIRED")
    assert b.ctl.program is None and b.proto.last_seq == 0


def test_bad_crc_is_refused_and_changes_nothing():
    """A single flipped character breaks the CRC: refused, counted, no state change."""
    b = Bench()
    frame = bytearray(frames.seal("1 PROGRAM " + STANDARD))
    frame[20] ^= 0x01
    before = b.snapshot()
    (ans,) = b.answers(b.send(bytes(frame)))
    assert ans.startswith("- ERR CRC")
    assert b.snapshot() == before and b.proto.stats["crc"] == 1


def test_repeated_seq_is_answered_again_without_acting_twice():
    """A retry with the same seq gets the stored answer; the command runs once."""
    b = Bench()
    b.framed(1, "PROGRAM " + STANDARD)
    first = b.answers(b.framed(2, "START"))
    b.tick(60000)
    steps = b.ctl.delivered_steps()
    again = b.answers(b.framed(2, "START"))
    assert again == first and b.proto.stats["retries"] == 1
    assert b.ctl.state == RUNNING and b.ctl.delivered_steps() == steps


def test_retry_of_a_refusal_is_the_same_refusal():
    """An ERR answer is stored too: the retry repeats it."""
    b = Bench()
    first = b.answers(b.framed(1, "START"))
    assert first[0].startswith("1 ERR BAD_STATE")
    assert b.answers(b.framed(1, "START")) == first


def test_same_seq_with_another_body_is_refused():
    """The last accepted seq on a different frame (valid CRC) neither acts nor gets the earlier
    command's answer; the true retry still does."""
    b = Bench()
    b.framed(1, "PROGRAM " + STANDARD)
    (first,) = b.answers(b.framed(2, "START"))
    (ans,) = b.answers(b.framed(2, "STOP"))
    assert ans == "- ERR SEQ_REUSED field=seq value=2 allowed=3"
    assert b.ctl.state == RUNNING and b.proto.stats["seq_reused"] == 1 and b.proto.stats["retries"] == 0
    assert b.answers(b.framed(2, "START")) == [first] and b.proto.stats["retries"] == 1
    (ans,) = b.answers(b.framed(3, "STOP"))
    assert ans == "3 OK STOP state=idle"


def test_out_of_order_seq_is_refused():
    """An older sequence number is refused with the next expected one."""
    b = Bench()
    b.framed(5, "PROGRAM " + STANDARD)
    (ans,) = b.answers(b.framed(4, "START"))
    assert ans.startswith("- ERR SEQ_ORDER field=seq value=4 allowed=6")
    assert b.ctl.state == PROGRAMMED


def test_seq_wraps_after_65535():
    """65535 is followed by 1."""
    b = Bench()
    b.framed(65535, "STATUS")
    (ans,) = b.answers(b.framed(1, "STATUS"))
    assert ans.startswith("1 OK STATUS")


def test_seq_window_counts_on_the_cycle_without_zero():
    """The documented rule: numbers run 1..65535 (0 never used) and a new one is 1..32767 steps
    ahead, counted modulo 65535; seq 0 is refused."""
    b = Bench()
    b.framed(65535, "STATUS")
    (ans,) = b.answers(b.framed(32768, "STATUS"))  # 32768 steps ahead of 65535
    assert ans.startswith("- ERR SEQ_ORDER field=seq value=32768 allowed=1")
    (ans,) = b.answers(b.framed(32767, "STATUS"))  # 32767 steps ahead
    assert ans.startswith("32767 OK STATUS")
    (ans,) = b.answers(b.framed(0, "STATUS"))
    assert ans.startswith("- ERR BAD_FRAME field=seq value=0")


def test_hard_limit_error_carries_field_value_range():
    """A refused prescription says which field, what value and the allowed range."""
    b = Bench()
    (ans,) = b.answers(b.framed(1, "PROGRAM " + STANDARD.replace("dose_ug_kg=500", "dose_ug_kg=1500")))
    assert ans == "1 ERR HARD_LIMIT field=dose_ug_kg value=1500 allowed=50..1000"
    assert b.ctl.program is None


def test_soft_limit_confirmation_over_the_link():
    """A soft-limit entry is held until CONFIRM names the field."""
    b = Bench()
    (ans,) = b.answers(b.framed(1, "PROGRAM " + STANDARD.replace("dose_ug_kg=500", "dose_ug_kg=800")))
    assert "state=awaiting_confirmation" in ans and "soft=dose_ug_kg" in ans
    (ans,) = b.answers(b.framed(2, "CONFIRM fields=duration_min"))
    assert ans.startswith("2 ERR CONFIRMATION_MISMATCH")
    (ans,) = b.answers(b.framed(3, "CONFIRM fields=dose_ug_kg"))
    assert ans == "3 OK CONFIRM state=programmed"


def test_unknown_command_and_bad_tokens():
    """Unknown commands and malformed or unknown keys are refused by name."""
    b = Bench()
    (ans,) = b.answers(b.framed(1, "FLY"))
    assert ans.startswith("1 ERR UNKNOWN_COMMAND field=command value=FLY")
    (ans,) = b.answers(b.framed(2, "START now"))
    assert ans.startswith("2 ERR BAD_VALUE field=token")
    (ans,) = b.answers(b.framed(3, "PROGRAM " + STANDARD + " color=red"))
    assert ans.startswith("3 ERR BAD_VALUE")
    (ans,) = b.answers(b.framed(4, "PROGRAM " + STANDARD + " weight_g=1"))
    assert ans.startswith("4 ERR BAD_VALUE field=token")
    assert b.ctl.program is None


def test_overlong_line_is_discarded_whole():
    """A line longer than the buffer is refused once and its tail never parsed as a command."""
    b = Bench()
    lines = b.answers(b.send(b"X" * (MAX_LINE + 50) + b" START\n"))
    assert lines == ["- ERR LINE_TOO_LONG field=line value=- allowed=%d?bytes" % MAX_LINE]
    assert b.proto._len == 0 and b.proto.stats["too_long"] == 1
    (ans,) = b.answers(b.send(b"STATUS\n"))
    assert ans.startswith("- OK STATUS state=idle")


def test_full_length_line_with_crlf_is_accepted():
    """MAX_LINE bytes of content followed by CR LF is a full line, not an overlong one; one
    byte more is too long, with either ending."""
    b = Bench()
    b.framed(1, "PROGRAM " + STANDARD)
    body = "2 CONFIRM fields=" + "x," * 200
    body = body[:MAX_LINE - 10]  # + " *" and 8 hex digits of CRC = MAX_LINE
    frame = frames.seal(body)
    assert len(frame) == MAX_LINE + 1
    (ans,) = b.answers(b.send(frame[:-1] + b"\r\n"))
    assert ans.startswith("2 ERR BAD_STATE field=confirm") and b.proto.stats["too_long"] == 0
    (ans,) = b.answers(b.send(b"X" + frames.seal("3 " + body[2:])[:-1] + b"\r\n"))
    assert ans.startswith("- ERR LINE_TOO_LONG") and b.proto.stats["too_long"] == 1
    (ans,) = b.answers(b.send(b"Y" * MAX_LINE + b"\rZ\n"))
    assert ans.startswith("- ERR LINE_TOO_LONG") and b.proto.stats["too_long"] == 2


def test_binary_noise_is_refused():
    """Control and high bytes make a line invalid; the next clean line works."""
    b = Bench()
    (ans,) = b.answers(b.send(b"\x00\xff\x1bST\x80ATUS\n"))
    assert ans.startswith("- ERR BAD_FRAME")
    (ans,) = b.answers(b.send(b"STATUS\n"))
    assert ans.startswith("- OK STATUS")


def test_half_frame_waits_for_its_end():
    """A frame split across reads is handled once its newline arrives."""
    b = Bench()
    frame = frames.seal("1 PROGRAM " + STANDARD)
    assert b.send(frame[:30]) == []
    (ans,) = b.answers(b.send(frame[30:]))
    assert ans.startswith("1 OK PROGRAM")


def test_events_are_reported_and_logged():
    """State changes come out as EVT lines and can be read back with LOG."""
    b = Bench()
    b.framed(1, "PROGRAM " + STANDARD)
    lines = b.framed(2, "START")
    assert any(line.startswith(b"! EVT") and b"value=running" in line for line in lines)
    (ans,) = b.answers(b.send(b"LOG\n"))
    assert "events=0:j.boot:power,0:state:programmed,0:state:running" in ans and "next=3" in ans


def test_log_pages_through_many_events():
    """LOG returns at most 8 events per answer and a next index to continue."""
    b = Bench()
    b.framed(1, "PROGRAM " + STANDARD)
    seq = 2
    for _ in range(6):
        b.framed(seq, "START")
        b.framed(seq + 1, "STOP")
        b.framed(seq + 2, "PROGRAM " + STANDARD)
        seq += 3
    (ans,) = b.answers(b.send(b"LOG from=0\n"))
    assert "next=8" in ans and "0:j.boot:power" in ans
    (ans,) = b.answers(b.send(b"LOG from=16\n"))
    assert "from=16" in ans and "next=20" in ans


def test_telemetry_interval():
    """TELEMETRY sets the interval; lines then come at that period of pump time."""
    b = Bench()
    b.framed(1, "TELEMETRY interval_ms=500")
    lines = []
    for _ in range(20):
        b.vb.advance(100)
        lines += [x for x in b.send(b"") if x.startswith(b"! TEL")]
    assert len(lines) == 4
    assert b"state=idle" in lines[0] and b"force_mn=" in lines[0] and b"pressure_mmhg=" in lines[0]
    (ans,) = b.answers(b.framed(2, "TELEMETRY interval_ms=5"))
    assert ans.startswith("2 ERR BAD_VALUE field=interval_ms")


def test_occlusion_level_and_vitals():
    """Occlusion level and vitals are accepted within range and refused outside it."""
    b = Bench()
    (ans,) = b.answers(b.framed(1, "OCCLUSION level=high"))
    assert ans == "1 OK OCCLUSION level=high threshold_mmhg=750"
    (ans,) = b.answers(b.framed(2, "OCCLUSION level=extreme"))
    assert ans.startswith("2 ERR BAD_VALUE field=level value=extreme allowed=high,low,medium")
    (ans,) = b.answers(b.framed(3, "VITALS sbp=150 dbp=90 bp_id=7 hr=80 spo2=97"))
    assert ans.startswith("3 OK VITALS") and b.ctl.vitals["sbp"] == 150
    (ans,) = b.answers(b.framed(4, "VITALS sbp=900 dbp=90 bp_id=8 hr=80 spo2=97"))
    assert ans.startswith("4 ERR BAD_VALUE field=sbp") and b.ctl.vitals["sbp"] == 150
    (ans,) = b.answers(b.framed(5, "VITALS hr=81"))
    assert ans.startswith("5 OK VITALS") and b.ctl.vitals["hr"] == 81  # HR alone, no cuff reading


def test_empty_vitals_frame_is_refused_naming_the_readings():
    """`VITALS` with no readings is not a report: BAD_VALUE naming what it lacks, nothing kept."""
    b = Bench(monitor=False)
    (ans,) = b.answers(b.framed(1, "VITALS"))
    assert ans.startswith("1 ERR BAD_VALUE field=readings value=none allowed=")
    assert "sbp+dbp+bp_id" in ans and "hr" in ans and "spo2" in ans and b.ctl.vitals == {}


def test_start_over_the_link_waits_for_normal_fresh_vitals():
    """PROGRAM 70 kg 500 ug/kg 100 min; START without vitals: VITALS_MISSING; at 260/140:
    VITALS_ABNORMAL naming sbp; with normal vitals it runs."""
    b = Bench(monitor=False)
    b.framed(1, "PROGRAM " + STANDARD.replace("duration_min=40", "duration_min=100"))
    (ans,) = b.answers(b.framed(2, "START"))
    assert ans.startswith("2 ERR VITALS_MISSING field=bp") and b.ctl.state == PROGRAMMED
    b.framed(3, "VITALS sbp=260 dbp=140 bp_id=1 hr=150 spo2=80")
    (ans,) = b.answers(b.framed(4, "START"))
    assert ans == "4 ERR VITALS_ABNORMAL field=sbp value=260 allowed=80..180" and b.ctl.state == PROGRAMMED
    b.framed(5, "VITALS sbp=130 dbp=80 bp_id=2 hr=75 spo2=97")
    (ans,) = b.answers(b.framed(6, "START"))
    assert ans == "6 OK START state=running"


def test_stats_count_every_kind_of_bad_input():
    """STATS reports the counters of refused frames."""
    b = Bench()
    b.send(b"\x01\n")
    b.send(b"1 START *00000000\n")
    b.send(b"Y" * 300 + b"\n")
    (ans,) = b.answers(b.send(b"STATS\n"))
    assert "bad_frame=1" in ans and "crc=1" in ans and "too_long=1" in ans


def test_selftest_over_the_link():
    """SELFTEST needs a CRC, refuses with a syringe loaded, passes on an empty pump."""
    b = Bench()
    (ans,) = b.answers(b.send(b"SELFTEST\n"))
    assert ans.startswith("- ERR CRC_REQUIRED")
    (ans,) = b.answers(b.framed(1, "SELFTEST"))
    assert ans.startswith("1 OK SELFTEST result=fail") and "step_counter=fail" in ans  # a syringe is loaded
    b.vb.switches.syringe = False
    (ans,) = b.answers(b.framed(2, "SELFTEST"))
    assert ans == "2 OK SELFTEST result=pass pins=ok force_sensor=ok step_counter=ok"


def test_occlusion_level_is_kept_through_a_power_cut():
    """OCCLUSION level=low, START, power cut, ACK, RESUME: STATUS still says low."""
    b = Bench()
    b.framed(1, "OCCLUSION level=low")
    b.framed(2, "PROGRAM " + STANDARD)
    b.framed(3, "START")
    b.tick(60000)
    b.power_cut()
    seq = frames.next_seq(b.proto.last_seq)  # the host reads last_seq (ID) after a reset
    (ans,) = b.answers(b.framed(seq, "ACK"))
    assert ans == "%d OK ACK state=paused alarm=POWER_LOSS" % seq
    (ans,) = b.answers(b.framed(seq + 1, "RESUME"))
    assert ans == "%d OK RESUME state=running" % (seq + 1)
    (ans,) = b.answers(b.send(b"STATUS\n"))
    assert "occlusion=low" in ans


def test_frames_from_before_a_reset_are_refused_after_it():
    """Every frame accepted before a reset is old after it: a replayed START is refused and
    starts nothing; the host continues from ID's last_seq. Flash sees one record per 256 frames."""
    b = Bench()
    b.framed(1, "PROGRAM " + STANDARD)
    start = frames.seal("2 START")
    b.send(start)
    b.framed(3, "STOP")
    for seq in range(4, 300):
        b.framed(seq, "VITALS sbp=120 dbp=80 hr=70 spo2=98")
    b.power_cut()
    b.framed(300, "PROGRAM " + STANDARD)  # not accepted: 300 was reserved before the reset
    (ans,) = b.answers(b.send(start))
    assert ans.startswith("- ERR SEQ_ORDER field=seq value=2") and b.ctl.state_name() == "idle"
    (ans,) = b.answers(b.send(b"ID\n"))
    last_seq = int(ans.split("last_seq=")[1])
    assert last_seq >= 299
    (ans,) = b.answers(b.framed(frames.next_seq(last_seq), "PROGRAM " + STANDARD))
    assert " OK PROGRAM state=programmed" in ans
    assert "seq" not in [e[2] for e in b.ctl.journal.replay().events]  # the reservation is no event
    kinds = [line.split(b" ")[2] for line in b.ctl.journal.storage.read("journal").split(b"\n") if line]
    assert kinds.count(b"seq") == 3  # frame 1, frame 258, and the first frame after the reset


def test_another_patient_needs_a_journalled_reidentification():
    """A dose for 70 kg is on record: PROGRAM for 150 kg is refused naming both weights;
    PATIENT restating 70 kg re-identifies (journalled), and 150 kg can then be programmed."""
    b = Bench()
    b.framed(1, "PROGRAM " + STANDARD)
    b.framed(2, "START")
    b.tick(1000)
    b.framed(3, "STOP")
    other = STANDARD.replace("weight_g=70000", "weight_g=150000")
    (ans,) = b.answers(b.framed(4, "PROGRAM " + other))
    assert ans == "4 ERR PATIENT_MISMATCH field=weight_g value=150000 allowed=70000"
    (ans,) = b.answers(b.framed(5, "PATIENT weight_g=150000 was_g=80000"))
    assert ans == "5 ERR CONFIRMATION_MISMATCH field=was_g value=80000 allowed=70000"
    (ans,) = b.answers(b.send(b"PATIENT weight_g=150000 was_g=70000\n"))
    assert ans.startswith("- ERR CRC_REQUIRED")
    (ans,) = b.answers(b.framed(6, "PATIENT weight_g=150000 was_g=70000"))
    assert ans == "6 OK PATIENT state=idle weight_g=150000"
    b.power_cut()
    (ans,) = b.answers(b.framed(frames.next_seq(b.proto.last_seq), "PROGRAM " + other))
    assert " OK PROGRAM state=programmed" in ans
    (ans,) = b.answers(b.send(b"LOG from=0\n"))
    assert "j.patient:150000" in ans
