"""Tests for sim.vitals_monitor: reading cadence, manual cuff readings, reproducibility."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.patient import typical
from sim.vitals_monitor import HR, NIBP, SPO2, VitalsMonitor, vitals_reports


def times_of(readings, kind):
    return [r.time_s for r in readings if r.kind == kind]


def poll(monitor, call_times_s):
    """Call due_readings at each time; return all readings and the per-call batches."""
    batches = [(t_s, monitor.due_readings(t_s)) for t_s in call_times_s]
    return [r for _, batch in batches for r in batch], batches


def test_default_cadence_over_20_min():
    """Cuff every 5 min reported 30 s after it starts; HR and SpO2 every 5 s."""
    monitor = VitalsMonitor(typical(), rng=np.random.default_rng(1))
    readings, _ = poll(monitor, np.arange(7.0, 1207.0, 7.0))
    assert times_of(readings, NIBP) == [30.0, 330.0, 630.0, 930.0]
    expected_continuous = [5.0 * k for k in range(1, 241)]
    assert times_of(readings, HR) == expected_continuous
    assert times_of(readings, SPO2) == expected_continuous


def test_readings_belong_to_the_call_that_returns_them_and_are_ordered():
    """Each call returns only readings after the previous call, up to its own time, in order."""
    monitor = VitalsMonitor(typical(), rng=np.random.default_rng(2))
    _, batches = poll(monitor, [3.0, 29.0, 30.0, 31.0, 400.0, 400.0, 401.0])
    previous_s = 0.0
    for t_s, batch in batches:
        times = [r.time_s for r in batch]
        assert times == sorted(times)
        assert all(previous_s < time_s <= t_s for time_s in times)
        previous_s = t_s
    assert batches[5][1] == []  # a repeated time reports nothing new


@settings(max_examples=50, deadline=None)
@given(
    gaps_s=st.lists(st.floats(min_value=0.0, max_value=200.0), min_size=1, max_size=40),
    interval_min=st.sampled_from([1.0, 2.5, 5.0, 15.0]),
    continuous_s=st.sampled_from([1.0, 2.0, 5.0]),
)
def test_reading_times_do_not_depend_on_call_pattern(gaps_s, interval_min, continuous_s):
    """However the runner polls, the same reading times come out, none missing or repeated."""
    end_s = float(sum(gaps_s))
    often = VitalsMonitor(typical(), 3, cuff_interval_min=interval_min,
                          continuous_interval_s=continuous_s)
    once = VitalsMonitor(typical(), 3, cuff_interval_min=interval_min,
                         continuous_interval_s=continuous_s)
    readings_often, _ = poll(often, np.cumsum(gaps_s))
    readings_once = once.due_readings(end_s)
    for kind in (NIBP, HR, SPO2):
        assert times_of(readings_often, kind) == times_of(readings_once, kind)
    cuff_ends = [k * interval_min * 60.0 + 30.0 for k in range(int(end_s // 60) + 2)]
    assert times_of(readings_once, NIBP) == [t for t in cuff_ends if t <= end_s]
    assert len(times_of(readings_once, HR)) == len(set(times_of(readings_once, HR)))


def test_configurable_cuff_cycle():
    """A 3 min cycle with a 40 s reading starting at 60 s reports at 100, 280, 460 s."""
    monitor = VitalsMonitor(typical(), 4, cuff_interval_min=3.0, cuff_duration_s=40.0,
                            first_cuff_s=60.0, continuous_interval_s=2.0)
    readings = monitor.due_readings(500.0)
    assert times_of(readings, NIBP) == [100.0, 280.0, 460.0]
    assert times_of(readings, HR)[:3] == [2.0, 4.0, 6.0]


def test_next_due_s_points_at_the_next_reading():
    """Polling exactly at next_due_s always yields readings stamped with that time."""
    monitor = VitalsMonitor(typical(), 5)
    due_s = 0.0
    for _ in range(200):
        due_s = monitor.next_due_s()
        batch = monitor.due_readings(due_s)
        assert batch and all(r.time_s == due_s for r in batch)
    assert monitor.next_due_s() > due_s


def test_manual_reading_restarts_the_cycle_and_keeps_pending_readings():
    """request_nibp starts a reading at once; the automatic cycle restarts from it."""
    monitor = VitalsMonitor(typical(), 6)
    monitor.request_nibp(100.0)  # the 30 s automatic reading is already due: kept
    monitor.request_nibp(110.0)  # cuff busy: ignored
    readings = monitor.due_readings(800.0)
    assert times_of(readings, NIBP) == [30.0, 130.0, 430.0, 730.0]
    assert times_of(readings, HR)[:2] == [5.0, 10.0]


def test_manual_only_monitor():
    """With cuff_interval_min=None the cuff runs only when asked."""
    monitor = VitalsMonitor(typical(), 7, cuff_interval_min=None)
    assert times_of(monitor.due_readings(3600.0), NIBP) == []
    monitor.request_nibp(3700.0)
    assert times_of(monitor.due_readings(3800.0), NIBP) == [3730.0]
    assert times_of(monitor.due_readings(9000.0), NIBP) == []


def test_same_seed_same_readings():
    """Two monitors with the same seed and call pattern report identical readings."""
    def run(seed):
        patient = typical(weight_kg=70)
        monitor = VitalsMonitor(patient, np.random.default_rng(seed))
        readings = []
        for _ in range(240):
            patient.advance(10 / 60, 875.0)
            readings += monitor.due_readings(patient.t_min * 60.0)
        return readings

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_values_are_whole_numbers_near_the_truth():
    """Readings are integers scattered around the patient's true vitals."""
    patient = typical(weight_kg=70)
    truth = patient.true_vitals
    monitor = VitalsMonitor(patient, 8, cuff_interval_min=1.0)
    readings = monitor.due_readings(4 * 3600.0)
    sbp = np.array([r.values["sbp_mmhg"] for r in readings if r.kind == NIBP])
    hr = np.array([r.values["hr_bpm"] for r in readings if r.kind == HR])
    spo2 = np.array([r.values["spo2_pct"] for r in readings if r.kind == SPO2])
    assert all(isinstance(v, int) for r in readings for v in r.values.values())
    assert abs(sbp.mean() - truth.sbp_mmhg) < 1.5
    assert abs(hr.mean() - truth.hr_bpm) < 0.5
    assert spo2.max() <= 100 and abs(spo2.mean() - truth.spo2_pct) < 0.5


def test_readings_follow_the_patient():
    """A hypertensive episode shows up in the cuff readings taken during it."""
    patient = typical(weight_kg=70)
    patient.add_hypertension_episode(10.0, 12.0, sbp_mmhg=80.0, dbp_mmhg=45.0)
    monitor = VitalsMonitor(patient, 9)
    by_time = {}
    while patient.t_min < 30.0:
        patient.advance(5 / 60, 0.0)
        for r in monitor.due_readings(round(patient.t_min * 60.0, 6)):
            if r.kind == NIBP:
                by_time[r.time_s] = r.values["sbp_mmhg"]
    assert by_time[930.0] > 180 and by_time[1230.0] > 180
    assert by_time[330.0] < 160 and by_time[1530.0] < 160


@pytest.mark.parametrize("kwargs", [
    {"cuff_interval_min": 0.4},
    {"cuff_interval_min": -5.0},
    {"continuous_interval_s": 0.0},
    {"cuff_duration_s": -1.0},
])
def test_invalid_settings_rejected(kwargs):
    """Impossible monitor settings are refused with a ValueError naming the setting."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        VitalsMonitor(typical(), 1, **kwargs)


def test_time_going_backwards_rejected():
    """Polling with an earlier time than before is refused."""
    monitor = VitalsMonitor(typical(), 1)
    monitor.due_readings(100.0)
    with pytest.raises(ValueError, match="earlier"):
        monitor.due_readings(99.0)


def test_reports_carry_each_cuff_reading_once_with_its_number():
    """One VITALS report per reading time; a cuff reading goes, with a new bp_id, only in the
    report of its own time, never again with later HR and SpO2 readings."""
    monitor = VitalsMonitor(typical(), 11, cuff_interval_min=15.0)
    reports = vitals_reports(monitor.due_readings(1900.0))
    with_bp = [r for r in reports if "sbp" in r]
    assert [r["bp_id"] for r in with_bp] == [1, 2, 3]  # cuff readings at 30, 930 and 1830 s
    assert len(reports) == 1900 // 5 and all({"hr", "spo2"} <= r.keys() for r in reports)
    assert all(set(r) in ({"hr", "spo2"}, {"sbp", "dbp", "bp_id", "hr", "spo2"}) for r in reports)


@settings(max_examples=30, deadline=None)
@given(interval_min=st.sampled_from([1.0, 5.0, 15.0]), end_s=st.floats(min_value=0.0, max_value=4000.0))
def test_every_cuff_reading_is_reported_exactly_once(interval_min, end_s):
    """However long the run, the bp_ids sent are 1, 2, ... one per cuff reading, none repeated."""
    monitor = VitalsMonitor(typical(), 12, cuff_interval_min=interval_min)
    readings = monitor.due_readings(end_s)
    ids = [r["bp_id"] for r in vitals_reports(readings) if "bp_id" in r]
    assert ids == list(range(1, len(times_of(readings, NIBP)) + 1))


def test_connect_skips_the_time_off_the_patient():
    """Put on the patient again days later: nothing from the days between, the cuff cycle
    starts at the connection, cuff numbers go on."""
    monitor = VitalsMonitor(typical(), 13)
    first = monitor.due_readings(100.0)
    monitor.connect(3 * 86400.0)
    later = monitor.due_readings(3 * 86400.0 + 60.0)
    assert times_of(later, NIBP) == [3 * 86400.0 + 30.0]
    assert times_of(later, HR) == [3 * 86400.0 + 5.0 * k for k in range(1, 13)]
    ids = [r["bp_id"] for r in vitals_reports(first + later) if "bp_id" in r]
    assert ids == [1, 2]
    with pytest.raises(ValueError, match="earlier than the previous call"):
        monitor.connect(10.0)
