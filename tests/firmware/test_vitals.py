"""Vitals: the pause criteria, each reading judged once, freshness, and the gate before START
and RESUME (both interpreters)."""

from firmware import alarms
from firmware.controller import ALARM, PAUSED, PROGRAMMED, RUNNING
from firmware.errors import BAD_VALUE, VITALS_ABNORMAL, VITALS_MISSING, VITALS_STALE, Rejected
from firmware.vitals import VitalsGuard
from tests.firmware.checks import raises
from tests.firmware.fixtures import controller, monitored, pain_rx, run_until_state, standard_rx, warnings

MIN = 60000


def _monitor(vb, ctl, seconds, hr=72, spo2=98, every_s=5, resend=None):
    """Time passes with HR and SpO2 every few seconds; `resend` (a cuff reading) goes along with
    each of them, as a monitor that repeats the last cuff value on every report."""
    for _ in range(seconds // every_s):
        run_until_state(vb, ctl, (), every_s * 1000)
        r = {"hr": hr, "spo2": spo2}
        if resend:
            r.update(resend)
        ctl.report_vitals(r)


def _cuff(ctl, sbp, dbp):
    """A new cuff reading, alone."""
    return monitored(ctl, sbp=sbp, dbp=dbp, hr=None, spo2=None)


def _running(minutes=1, rx=None):
    vb, ctl = controller()
    ctl.program_prescription(rx or standard_rx())
    monitored(ctl)
    ctl.start()
    _monitor(vb, ctl, minutes * 60)
    assert ctl.state == RUNNING
    return vb, ctl


def _refused(fn, code, field):
    e = raises(Rejected, fn)
    assert (e.code, e.field) == (code, field), str(e)
    return e


# ---- the gate before START and RESUME ---------------------------------------------------
def test_start_refused_while_vitals_meet_a_pause_criterion():
    """70 kg, 500 ug/kg over 100 min, monitor at 260/140, HR 150, SpO2 80: START is refused
    with the reading and its allowed range, and nothing moves."""
    vb, ctl = controller()
    ctl.program_prescription(standard_rx(duration_min=100))
    monitored(ctl, sbp=260, dbp=140, hr=150, spo2=80)
    e = _refused(ctl.start, VITALS_ABNORMAL, "sbp")
    assert e.value == 260 and e.allowed == "80..180"
    assert ctl.state == PROGRAMMED and not vb.stepper.enabled and vb.stepper.position == 0
    monitored(ctl, hr=150)
    e = _refused(ctl.start, VITALS_ABNORMAL, "hr")
    assert e.allowed == "40..120"
    monitored(ctl, spo2=85)
    _refused(ctl.start, VITALS_ABNORMAL, "spo2")
    monitored(ctl, sbp=78, dbp=50)
    _refused(ctl.start, VITALS_ABNORMAL, "sbp")
    monitored(ctl)
    ctl.start()
    assert ctl.state == RUNNING


def test_resume_refused_while_bp_is_still_high():
    """After a VITALS alarm and ACK, 250/130 reported again: RESUME is refused; a normal new
    cuff reading lets the operator resume."""
    vb, ctl = _running()
    _cuff(ctl, 205, 125)
    assert ctl.state == ALARM and ctl.alarm_code == alarms.VITALS
    ctl.acknowledge()
    assert ctl.state == PAUSED
    _refused(ctl.resume, VITALS_ABNORMAL, "sbp")  # the reading that paused it is still the latest
    monitored(ctl, sbp=250, dbp=130)
    _refused(ctl.resume, VITALS_ABNORMAL, "sbp")
    assert ctl.state == PAUSED and not vb.stepper.enabled
    monitored(ctl, sbp=150, dbp=90)
    ctl.resume()
    assert ctl.state == RUNNING


def test_start_and_resume_need_the_readings_the_profile_requires():
    """The depression profile needs fresh BP, HR and SpO2: none is VITALS_MISSING, an old one
    VITALS_STALE, each naming the reading; after a pause the continuous readings must be new."""
    vb, ctl = controller()
    ctl.program_prescription(standard_rx())
    e = _refused(ctl.start, VITALS_MISSING, "bp")
    assert e.allowed == "age<1020s"
    ctl.report_vitals({"hr": 72, "spo2": 98})
    _refused(ctl.start, VITALS_MISSING, "bp")
    _cuff(ctl, 125, 80)
    run_until_state(vb, ctl, (), 61000)
    e = _refused(ctl.start, VITALS_STALE, "hr")
    assert e.value == "61s" and e.allowed == "age<60s"
    ctl.report_vitals({"hr": 72, "spo2": 98})
    ctl.start()
    _monitor(vb, ctl, 60)
    ctl.pause()
    run_until_state(vb, ctl, (), 2 * MIN)
    _refused(ctl.resume, VITALS_STALE, "hr")
    ctl.report_vitals({"hr": 72, "spo2": 98})
    ctl.resume()
    assert ctl.state == RUNNING


def test_a_profile_without_required_vitals_is_still_gated_by_fresh_ones():
    """The pain profile starts with no monitor, but not on a fresh SpO2 of 85; a stale one is
    not judged."""
    vb, ctl = controller()
    ctl.program_prescription(pain_rx())
    ctl.report_vitals({"spo2": 85})
    _refused(ctl.start, VITALS_ABNORMAL, "spo2")
    run_until_state(vb, ctl, (), 61000)
    ctl.start()
    assert ctl.state == RUNNING


# ---- what a report must hold ------------------------------------------------------------
def test_empty_vitals_are_refused_and_do_not_silence_the_stale_warning():
    """An empty report names the readings it lacks and changes nothing: the quiet monitor is
    still warned about."""
    vb, ctl = _running()
    e = _refused(lambda: ctl.report_vitals({}), BAD_VALUE, "readings")
    assert "sbp+dbp+bp_id" in e.allowed and "hr" in e.allowed and "spo2" in e.allowed
    warnings(ctl)
    run_until_state(vb, ctl, (), 30000)
    raises(Rejected, ctl.report_vitals, {})
    run_until_state(vb, ctl, (), 31000)
    assert warnings(ctl) == [alarms.HR_STALE, alarms.SPO2_STALE]


def test_a_cuff_reading_is_whole_and_has_an_identity():
    """BP without its bp_id (or sbp without dbp) is refused by the missing name; the same bp_id
    with other values is refused; dbp at or above sbp is refused. None changes anything."""
    vb, ctl = _running()
    before = dict(ctl.vitals)
    _refused(lambda: ctl.report_vitals({"sbp": 150, "dbp": 90}), BAD_VALUE, "bp_id")
    _refused(lambda: ctl.report_vitals({"sbp": 150, "bp_id": 9}), BAD_VALUE, "dbp")
    _refused(lambda: ctl.report_vitals({"sbp": 150, "dbp": 90, "bp_id": before["bp_id"], "hr": 80}), BAD_VALUE, "bp_id")
    _refused(lambda: ctl.report_vitals({"sbp": 90, "dbp": 95, "bp_id": 9}), BAD_VALUE, "dbp")
    _refused(lambda: ctl.report_vitals({"sbp": 900, "dbp": 90, "bp_id": 9}), BAD_VALUE, "sbp")
    _refused(lambda: ctl.report_vitals({"temp": 37}), BAD_VALUE, "temp")
    assert ctl.vitals == before and ctl.state == RUNNING


# ---- each reading judged once -------------------------------------------------------------
def test_one_high_cuff_reading_resent_with_every_hr_does_not_pause():
    """15-min cuff cycle: one 186/103, then 137/84 a minute later. A monitor that resends the
    last cuff value with every HR/SpO2 reading does not make it two readings: no pause."""
    vb, ctl = _running()
    high = _cuff(ctl, 186, 103)
    _monitor(vb, ctl, 6 * 60, resend={"sbp": 186, "dbp": 103, "bp_id": high["bp_id"]})
    assert ctl.state == RUNNING
    normal = _cuff(ctl, 137, 84)
    _monitor(vb, ctl, 14 * 60, resend={"sbp": 137, "dbp": 84, "bp_id": normal["bp_id"]})
    assert ctl.state == RUNNING and ctl.vitals["sbp"] == 137


def test_two_high_cuff_readings_five_minutes_apart_pause():
    """185 once is noted; a new reading still 186 five minutes later: VITALS alarm, motor off;
    ACK leaves it paused for the operator."""
    vb, ctl = _running()
    _cuff(ctl, 185, 95)
    _monitor(vb, ctl, 4 * 60)
    _cuff(ctl, 186, 96)  # 4 min after the first: not yet
    assert ctl.state == RUNNING
    _monitor(vb, ctl, 60)
    _cuff(ctl, 186, 96)
    assert ctl.state == ALARM and ctl.alarm_code == alarms.VITALS and not vb.stepper.enabled
    assert ctl.vitals_guard.reason == "sbp 186 > 180 for 300 s"
    ctl.acknowledge()
    assert ctl.state == PAUSED


def test_bp_back_to_normal_starts_the_confirmation_again():
    """185, 150, 185 five minutes after the first: no alarm."""
    vb, ctl = _running()
    for sbp in (185, 150, 185):
        _cuff(ctl, sbp, 90)
        _monitor(vb, ctl, 150)
    assert ctl.state == RUNNING


def test_immediate_criteria_pause_on_one_reading():
    """205/100, DBP 121 or a low SBP of 75 pause on one cuff reading."""
    for sbp, dbp in ((205, 100), (150, 121), (75, 45)):
        vb, ctl = _running()
        _cuff(ctl, sbp, dbp)
        assert ctl.state == ALARM and ctl.alarm_code == alarms.VITALS, (sbp, dbp)


def test_low_spo2_needs_confirmation():
    """One SpO2 of 85 among normal ones (an artefact) does not pause; 85 for 20 s does."""
    vb, ctl = _running()
    ctl.report_vitals({"spo2": 85})
    _monitor(vb, ctl, 60)
    assert ctl.state == RUNNING
    _monitor(vb, ctl, 15, spo2=85)
    assert ctl.state == RUNNING
    _monitor(vb, ctl, 10, spo2=85)
    assert ctl.state == ALARM and ctl.alarm_code == alarms.VITALS


def test_heart_rate_high_and_low_sustained():
    """HR 125 for 4 min does not pause, for 5 min it does; HR 38 for 1 min does."""
    vb, ctl = _running()
    _monitor(vb, ctl, 240, hr=125)
    assert ctl.state == RUNNING
    _monitor(vb, ctl, 65, hr=125)
    assert ctl.state == ALARM
    vb, ctl = _running()
    _monitor(vb, ctl, 55, hr=38)
    assert ctl.state == RUNNING
    _monitor(vb, ctl, 10, hr=38)
    assert ctl.state == ALARM


# ---- freshness --------------------------------------------------------------------------
def test_a_failed_cuff_is_flagged_while_hr_and_spo2_arrive():
    """No new cuff reading for 17 min while HR and SpO2 keep coming: one BP_STALE warning, the
    infusion goes on; a new cuff reading clears it."""
    vb, ctl = _running()
    warnings(ctl)
    _monitor(vb, ctl, 15 * 60)
    assert warnings(ctl) == []
    _monitor(vb, ctl, 5 * 60)
    assert warnings(ctl) == [alarms.BP_STALE] and ctl.state == RUNNING
    _cuff(ctl, 125, 80)
    _monitor(vb, ctl, 18 * 60)
    assert warnings(ctl, alarms.BP_STALE) == [alarms.BP_STALE]


def test_a_quiet_monitor_warns_once_per_reading_without_stopping():
    """Everything stops reporting: HR and SpO2 warn after a minute, BP after 17, once each."""
    vb, ctl = _running()
    warnings(ctl)
    run_until_state(vb, ctl, (), 18 * MIN)
    assert warnings(ctl) == [alarms.HR_STALE, alarms.SPO2_STALE, alarms.BP_STALE] and ctl.state == RUNNING


def test_criteria_are_data():
    """Another clinic's criteria apply as given; a malformed criterion is refused at load."""
    vb, ctl = controller()
    limits = dict(ctl.limits["vitals"])
    limits["criteria"] = [{"reading": "sbp", "above": 160, "for_ms": 0}]
    g = VitalsGuard(limits)
    assert g.report({"sbp": 161, "dbp": 90, "bp_id": 1}, 0, vb.clock) == alarms.VITALS
    assert g.report({"sbp": 159, "dbp": 90, "bp_id": 2, "spo2": 70}, 1000, vb.clock) == 0
    for bad in ({"reading": "temp", "above": 38, "for_ms": 0}, {"reading": "hr", "for_ms": 0},
                {"reading": "hr", "above": 1, "below": 2, "for_ms": 0}, {"reading": "hr", "above": 120, "for_ms": -1}):
        limits["criteria"] = [bad]
        raises(ValueError, VitalsGuard, limits)
