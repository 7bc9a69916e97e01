"""After a reset the pump knows what it delivered (never less than the truth), comes up in alarm,
and never resumes on its own (both interpreters)."""

from firmware import alarms, errors
from firmware.controller import ALARM, COMPLETE, IDLE, PAUSED, Controller
from firmware.errors import Rejected
from firmware.hal.virtual import MemoryStorage, VirtualBoard
from tests.firmware.checks import raises
from tests.firmware.fixtures import LIBRARY, SYRINGES, board, run_until_state, standard_rx, monitored

MIN = 60000


def _boot(storage, cause="power"):
    vb = VirtualBoard(storage=storage)
    return vb, Controller(vb.hal, board(), LIBRARY, SYRINGES, reset_cause=cause)


def _interrupted(minutes=15, cause="power"):
    """Run the standard infusion for `minutes`, then reset; returns (true steps, new board, new controller)."""
    storage = MemoryStorage()
    vb, ctl = _boot(storage)
    ctl.program_prescription(standard_rx())
    monitored(ctl)
    ctl.start()
    run_until_state(vb, ctl, (), minutes * MIN)
    true_steps = vb.stepper.position
    vb2, ctl2 = _boot(MemoryStorage(dict(storage.files)), cause)  # what flash kept
    return true_steps, vb2, ctl2


def test_power_loss_comes_up_in_alarm_with_a_safe_bound():
    """Delivered after the reset is >= the truth and within one progress interval of it."""
    true_steps, vb, ctl = _interrupted()
    assert ctl.state == ALARM and ctl.alarm_code == alarms.POWER_LOSS
    one_interval = ctl.program.total_steps * 5000 // ctl.program.duration_ms + 10
    assert true_steps <= ctl.delivered_steps() <= true_steps + one_interval


def test_watchdog_reset_is_its_own_alarm():
    """A watchdog reset mid-infusion comes up as WATCHDOG_RESET."""
    _, vb, ctl = _interrupted(cause="watchdog")
    assert ctl.state == ALARM and ctl.alarm_code == alarms.WATCHDOG_RESET


def test_never_resumes_on_its_own():
    """Minutes of ticks after the reset move nothing; only ack and resume do."""
    _, vb, ctl = _interrupted()
    run_until_state(vb, ctl, (), 5 * MIN)
    assert vb.stepper.position == 0 and not vb.stepper.enabled
    ctl.acknowledge()
    assert ctl.state == PAUSED
    run_until_state(vb, ctl, (), 5 * MIN)
    assert vb.stepper.position == 0


def test_resumed_infusion_never_over_delivers():
    """Resuming after the reset completes the program; true steps over both lives <= total."""
    true_before, vb, ctl = _interrupted(minutes=17)
    ctl.acknowledge()
    monitored(ctl)
    ctl.resume()
    run_until_state(vb, ctl, (COMPLETE,), 40 * MIN)
    assert ctl.state == COMPLETE
    total = ctl.program.total_steps
    assert total - 60 <= true_before + vb.stepper.position <= total


def test_a_finished_infusion_is_not_an_alarm_after_reset():
    """A completed infusion before the reset leaves the pump idle, with its dose remembered."""
    storage = MemoryStorage()
    vb, ctl = _boot(storage)
    ctl.program_prescription(standard_rx(dose_ug_kg=100))
    monitored(ctl)
    ctl.start()
    run_until_state(vb, ctl, (COMPLETE,), 41 * MIN)
    vb2, ctl2 = _boot(MemoryStorage(dict(storage.files)))
    assert ctl2.state == IDLE
    e = raises(Rejected, ctl2.program_prescription, standard_rx(dose_ug_kg=950))  # 0.1 + 0.95 > 1.0 mg/kg/24 h
    assert e.code == errors.CUMULATIVE_LIMIT
    ctl2.program_prescription(standard_rx(dose_ug_kg=900))  # exactly 1.0 mg/kg: allowed


def test_event_log_survives_the_reset():
    """The journal's events before the reset are readable after it."""
    _, vb, ctl = _interrupted(minutes=2)
    kinds = [kind for _seq, _t, kind, _v in ctl.recovered_events]
    assert kinds == ["boot", "rx", "start", "boot"]  # progress records are not events


def _full_daily_dose(storage):
    """70 kg at 1.0 mg/kg over 20 min (the daily maximum, confirmed over the soft limits) to completion."""
    vb, ctl = _boot(storage)
    ctl.program_prescription(standard_rx(dose_ug_kg=1000, duration_min=20))
    ctl.confirm(["dose_ug_kg", "duration_min"])
    monitored(ctl)
    ctl.start()
    run_until_state(vb, ctl, (COMPLETE,), 21 * MIN)
    assert ctl.state == COMPLETE
    return vb, ctl


def _refuses_more_for_the_70_kg_patient(ctl):
    e = raises(Rejected, ctl.program_prescription, standard_rx(dose_ug_kg=50))
    assert e.code == errors.CUMULATIVE_LIMIT and e.value == 1050
    e = raises(Rejected, ctl.program_prescription, standard_rx(weight_g=150000))  # 0.47 + 0.5 mg/kg if divided by 150
    assert (e.code, e.field, e.value, e.allowed) == (errors.PATIENT_MISMATCH, "weight_g", 150000, "70000")
    assert ctl.program is None or ctl.program.weight_g == 70000


def test_another_weight_does_not_reset_the_daily_maximum():
    """After the 70 kg patient's daily maximum, entering 150 kg is refused (naming both weights),
    before and after a power cut and after compaction; only an explicit, journalled
    re-identification restating the recorded weight lets the new patient be programmed."""
    storage = MemoryStorage()
    vb, ctl = _full_daily_dose(storage)
    _refuses_more_for_the_70_kg_patient(ctl)
    vb, ctl = _boot(MemoryStorage(dict(storage.files)))
    _refuses_more_for_the_70_kg_patient(ctl)
    ctl.journal.compact()
    vb, ctl = _boot(MemoryStorage(dict(ctl.journal.storage.files)))
    _refuses_more_for_the_70_kg_patient(ctl)
    e = raises(Rejected, ctl.reidentify_patient, 150000, 75000)
    assert (e.code, e.field, e.allowed) == (errors.CONFIRMATION_MISMATCH, "was_g", "70000")
    _refuses_more_for_the_70_kg_patient(ctl)
    ctl.reidentify_patient(150000, 70000)
    assert ctl.state == IDLE
    assert [e[2:] for e in ctl.journal.state.events[-1:]] == [("patient", 150000)]
    vb, ctl = _boot(MemoryStorage(dict(ctl.journal.storage.files)))
    assert ctl.program_prescription(standard_rx(weight_g=150000)).weight_g == 150000


def test_occlusion_level_survives_a_power_cut():
    """OCCLUSION low, START, power cut: the pump comes back at low, and the recovered
    infusion's occlusion threshold is low's; a level never chosen stays the default."""
    storage = MemoryStorage()
    vb, ctl = _boot(storage)
    assert ctl.occlusion_level == "medium"
    ctl.set_occlusion_level("low")
    ctl.program_prescription(standard_rx())
    monitored(ctl)
    ctl.start()
    run_until_state(vb, ctl, (), MIN)
    low_counts = ctl.safety.occlusion.threshold_counts
    vb, ctl = _boot(MemoryStorage(dict(storage.files)))
    assert ctl.occlusion_level == "low" and ctl.safety.occlusion.threshold_counts == low_counts
    ctl.acknowledge()
    monitored(ctl)
    ctl.resume()
    assert ctl.occlusion_level == "low" and ctl.safety.occlusion.threshold_counts == low_counts
    ctl.journal.compact()
    vb, ctl = _boot(MemoryStorage(dict(ctl.journal.storage.files)))
    assert ctl.occlusion_level == "low"


def test_reidentification_ends_an_infusion_the_pump_no_longer_holds():
    """A final alarm acknowledged leaves the pump idle with that infusion still open in the
    journal; PATIENT ends it there (its dose stays the earlier patient's) and then re-identifies."""
    storage = MemoryStorage()
    vb, ctl = _boot(storage)
    ctl.program_prescription(standard_rx())
    monitored(ctl)
    ctl.start()
    run_until_state(vb, ctl, (), MIN)
    ctl.raise_alarm(alarms.STEP_MISMATCH)
    ctl.acknowledge()
    assert ctl.state == IDLE and ctl.journal.state.in_progress
    e = raises(Rejected, ctl.program_prescription, standard_rx(weight_g=80000))
    assert e.code == errors.PATIENT_MISMATCH
    ctl.reidentify_patient(80000, 70000)
    kinds = [e[2] for e in ctl.journal.replay().events]
    assert kinds[-2:] == ["stop", "patient"] and not ctl.journal.state.in_progress
    assert ctl.program_prescription(standard_rx(weight_g=80000)).weight_g == 80000


def test_a_paused_infusion_comes_back_paused_behind_the_power_loss_alarm():
    """A power cut while paused: the pump comes up in POWER_LOSS with the program and its exact
    delivered count (a pause is written to flash), acknowledging leaves it paused, and RESUME
    completes the dose without passing its total. (It used to come up idle with the
    infusion still open in the journal, its program lost.)"""
    storage = MemoryStorage()
    vb, ctl = _boot(storage)
    ctl.program_prescription(standard_rx())
    monitored(ctl)
    ctl.start()
    run_until_state(vb, ctl, (), 10 * MIN)
    ctl.pause()
    delivered = ctl.delivered_steps()
    vb2, ctl2 = _boot(MemoryStorage(dict(storage.files)))
    assert ctl2.state == ALARM and ctl2.alarm_code == alarms.POWER_LOSS
    assert ctl2.delivered_steps() == delivered
    ctl2.acknowledge()
    assert ctl2.state == PAUSED
    monitored(ctl2)
    ctl2.resume()
    run_until_state(vb2, ctl2, (COMPLETE,), 40 * MIN)
    assert ctl2.state == COMPLETE
    assert delivered + vb2.stepper.position == ctl2.program.total_steps
