"""The SERVICE state (firmware/service.py): entered and left only by command and only when no
infusion is under way, journalled across resets, shown in STATUS; the test-only profile only
in it and the clinical ones only outside it; the re-flash maintenance that hands the watchdog to
a timer and stops the main loop."""

from firmware import errors, frames
from firmware.board import Board
from firmware.controller import Controller
from firmware.errors import Rejected
from firmware.hal.virtual import MemoryStorage, VirtualBoard
from firmware.main import run
from tests.firmware.checks import raises
from tests.firmware.fixtures import LIBRARY, SYRINGES, board, run_until_state, standard_rx
from tests.firmware.protocol_fixture import Bench

# The standard session's volume and rate, on water.
BENCH_RX = "drug=water profile=bench_dose conc_ug_ml=10000 weight_g=70000 dose_ug_kg=500 duration_min=40 syringe=bd_plastipak_50"


def _boot(storage):
    vb = VirtualBoard(storage=storage)
    return vb, Controller(vb.hal, board(), LIBRARY, SYRINGES)


def _water(**changes) -> dict:
    return standard_rx(drug="water", profile="bench_dose", **changes)


def test_enter_and_leave_by_command_shown_in_status():
    """SERVICE action=enter / leave answer with the state; STATUS says service=on / off."""
    b = Bench()
    assert "service=off" in b.answers(b.send(b"STATUS\n"))[0]
    (ans,) = b.answers(b.framed(1, "SERVICE action=enter"))
    assert ans == "1 OK SERVICE service=on loop=running"
    assert "service=on" in b.answers(b.send(b"STATUS\n"))[0]
    (ans,) = b.answers(b.framed(2, "SERVICE action=leave"))
    assert ans == "2 OK SERVICE service=off loop=running"


def test_service_needs_a_framed_command():
    """Typed without seq and CRC, SERVICE is refused like any command that changes state."""
    b = Bench()
    (ans,) = b.answers(b.send(b"SERVICE action=enter\n"))
    assert ans.startswith("- ERR CRC_REQUIRED") and not b.ctl.service_state.active


def test_bad_action_is_refused_by_name():
    b = Bench()
    (ans,) = b.answers(b.framed(1, "SERVICE action=sleep"))
    assert ans.startswith("1 ERR BAD_VALUE field=action value=sleep allowed=enter,leave,flash")


def test_not_entered_or_left_with_an_infusion_under_way():
    """From running, paused or programmed: BAD_STATE, and nothing changes."""
    vb, ctl = _boot(MemoryStorage())
    ctl.program_prescription(standard_rx())
    e = raises(Rejected, ctl.service_state.act, "enter", ctl.state_name())
    assert e.code == errors.BAD_STATE and e.value == "programmed" and e.allowed == "idle"
    ctl.stop()
    ctl.service_state.act("enter", ctl.state_name())
    ctl.program_prescription(_water())
    ctl.start()
    run_until_state(vb, ctl, ("never",), 60000)
    e = raises(Rejected, ctl.service_state.act, "leave", ctl.state_name())
    assert e.code == errors.BAD_STATE and e.value == "running" and e.allowed == "idle,complete"
    ctl.pause()
    e = raises(Rejected, ctl.service_state.act, "leave", ctl.state_name())
    assert e.value == "paused" and ctl.service_state.active


def test_test_profile_refused_outside_service():
    """Water outside SERVICE: SERVICE_REQUIRED naming the profile and the way in."""
    b = Bench()
    (ans,) = b.answers(b.framed(1, "PROGRAM " + BENCH_RX))
    assert ans.startswith("1 ERR SERVICE_REQUIRED field=profile value=water/bench_dose")
    assert b.ctl.program is None


def test_clinical_profile_refused_in_service():
    """Ketamine in SERVICE: SERVICE_ACTIVE, listing the test profiles. No therapy in service."""
    b = Bench()
    b.framed(1, "SERVICE action=enter")
    (ans,) = b.answers(b.framed(2, "PROGRAM drug=ketamine profile=depression conc_ug_ml=10000 weight_g=70000 "
                                   "dose_ug_kg=500 duration_min=40 syringe=bd_plastipak_50"))
    assert ans.startswith("2 ERR SERVICE_ACTIVE field=profile value=ketamine/depression")
    assert "water/bench_dose" in ans and b.ctl.program is None


def test_repeated_bench_deliveries_never_meet_the_daily_limit_and_leave_it_untouched():
    """Five standard doses of water in a row for five nominal weights: each accepted; after
    leaving SERVICE a 70 kg patient starts afresh and the clinical 1.0 mg/kg daily limit applies
    in full."""
    vb, ctl = _boot(MemoryStorage())
    ctl.service_state.act("enter", ctl.state_name())
    for weight_g in (70000, 40000, 150000, 55000, 100000):  # bench weights are nominal: no patient
        ctl.program_prescription(_water(weight_g=weight_g))
        ctl.start()
        run_until_state(vb, ctl, ("complete",), 41 * 60000)
        assert ctl.state_name() == "complete"
    ctl.stop()
    ctl.service_state.act("leave", ctl.state_name())
    assert ctl.journal.ug_last_24h() == 0  # water is no drug
    assert ctl.journal.patient_g() is None  # nor does it bind a patient
    ctl.program_prescription(standard_rx(dose_ug_kg=1000))  # the whole daily allowance: accepted
    e = raises(Rejected, ctl.program_prescription, standard_rx(dose_ug_kg=1000), 1)
    assert e.code == errors.CUMULATIVE_LIMIT  # one more ug and the limit holds


def test_service_survives_a_reset_and_a_compaction():
    """The journal brings the pump back in SERVICE after a reset, also once compacted."""
    storage = MemoryStorage()
    vb, ctl = _boot(storage)
    ctl.service_state.act("enter", ctl.state_name())
    vb2, ctl2 = _boot(MemoryStorage(dict(storage.files)))
    assert ctl2.service_state.active
    ctl2.journal.compact()
    vb3, ctl3 = _boot(MemoryStorage(dict(ctl2.journal.storage.files)))
    assert ctl3.service_state.active
    ctl3.service_state.act("leave", ctl3.state_name())
    vb4, ctl4 = _boot(MemoryStorage(dict(ctl3.journal.storage.files)))
    assert not ctl4.service_state.active
    settings = [v for _seq, _t, kind, v in ctl4.recovered_events if kind == "set"]
    assert settings[-2:] == ["service=1", "service=0"]  # in the event log too


def test_flash_needs_service_and_no_syringe():
    """SERVICE action=flash outside SERVICE, or with a syringe loaded: refused, the loop runs on."""
    b = Bench()
    (ans,) = b.answers(b.framed(1, "SERVICE action=flash"))
    assert ans.startswith("1 ERR BAD_STATE field=flash value=not_in_service")
    b.framed(2, "SERVICE action=enter")
    (ans,) = b.answers(b.framed(3, "SERVICE action=flash"))
    assert ans.startswith("3 ERR NOT_READY field=syringe_present value=true")
    assert not b.ctl.service_state.loop_stopped and not b.vb.watchdog.timer_period_ms


def test_flash_hands_the_watchdog_to_a_timer_and_stops_the_main_loop():
    """With the syringe out: the answer says loop=stopped, main.run() returns, and with no tick
    the timer keeps the watchdog fed for a minute of board time (the copy's time)."""
    vb = VirtualBoard(storage=MemoryStorage())
    ctl = Controller(vb.hal, Board.load("VIRTUAL"), LIBRARY, SYRINGES)
    vb.switches.syringe = False
    vb.link.rx.extend(frames.seal("1 SERVICE action=enter") + frames.seal("2 SERVICE action=flash"))
    run(ctl, ticks=1000)  # returns long before 1000 ticks
    out = bytes(vb.link.tx).decode()
    assert "2 OK SERVICE service=on loop=stopped" in out
    assert vb.clock.now_ms() < 1000  # the loop stopped at once
    assert not vb.stepper.enabled
    feeds = vb.watchdog.feeds
    vb.advance(60000)
    assert not vb.watchdog.expired and vb.watchdog.feeds >= feeds + 60000 // (vb.watchdog.timeout_ms // 4)


def test_a_stopped_loop_without_the_timer_starves_the_watchdog():
    """What the maintenance path prevents: the loop interrupted (mpremote's Ctrl-C) with the
    watchdog running and no timer expires it within its timeout."""
    vb, ctl = _boot(MemoryStorage())
    run_until_state(vb, ctl, ("never",), 1000)
    vb.advance(vb.watchdog.timeout_ms + 100)
    assert vb.watchdog.expired
