"""Tests for sim.calibration: the plant reproduces published occlusion alarm times and boluses."""

import json
import math
import statistics

import pytest

from sim.calibration import CalibrationSetup, Rig, fit_compliance_scale, run_bolus, run_occlusion
from sim.plant import PLANT_CALIBRATION_PATH
from sim.threshold_detector import ThresholdDetector

PUBLISHED = {t["rate_ml_h"]: t for t in json.loads(PLANT_CALIBRATION_PATH.read_text())["calibration"]["targets"]}
SEEDS = CalibrationSetup.load().seeds


@pytest.mark.parametrize("rate_ml_h", [0.5, 5.0])
def test_threshold_alarm_time_reproduces_donmez_2005(rate_ml_h):
    """Time to the threshold alarm after a full occlusion lies within the published mean +/- SD."""
    published = PUBLISHED[rate_ml_h]
    low_min = published["alarm_mean_min"] - published["alarm_sd_min"]
    high_min = published["alarm_mean_min"] + published["alarm_sd_min"]
    nominal_min = run_occlusion(rate_ml_h, seed=None).time_to_alarm_min
    seeded_min = [run_occlusion(rate_ml_h, seed).time_to_alarm_min for seed in SEEDS]
    assert low_min <= nominal_min <= high_min
    assert low_min <= statistics.fmean(seeded_min) <= high_min
    for minutes in seeded_min:  # single syringes: within two published SDs
        assert abs(minutes - published["alarm_mean_min"]) <= 2 * published["alarm_sd_min"]


@pytest.mark.parametrize("rate_ml_h", [0.5, 5.0])
def test_about_one_millilitre_is_stored_at_alarm(rate_ml_h):
    """Syringe and line hold roughly 1-1.25 mL more at the alarm than at the occlusion."""
    run = run_occlusion(rate_ml_h, seed=SEEDS[0])
    assert 900.0 <= run.stored_increment_ul <= 1300.0
    assert run.measured_pressure_at_alarm_mmhg > run.line_pressure_at_alarm_mmhg  # friction reads as pressure


@pytest.mark.parametrize("rate_ml_h", [0.5, 1.0, 5.0])
def test_no_false_alarm_in_a_normal_two_hour_infusion(rate_ml_h):
    """With noise, stiction and between-syringe spread, an open line never trips the threshold."""
    for seed in SEEDS[:3]:
        rig = Rig(seed)
        detector = ThresholdDetector.from_data()
        alarmed = rig.run(2 * 3600.0, rig.ramp(rate_ml_h), detector.update)
        assert not alarmed, f"false alarm at {rate_ml_h} mL/h, seed {seed}, t = {detector.alarm_t_s} s"
        assert rig.plant.delivered_ul > 0.9 * rate_ml_h * 2000.0


@pytest.mark.parametrize("rate_ml_h", [0.5, 5.0])
def test_release_without_back_off_delivers_the_stored_volume_as_a_bolus(rate_ml_h):
    """Releasing the occlusion with the drive only stopped lets roughly the stored ~1 mL out."""
    run = run_bolus(rate_ml_h, seed=SEEDS[1], back_off=False)
    assert run.backed_off_ul == 0.0
    assert 0.85 * run.stored_at_alarm_ul <= run.bolus_ul <= run.stored_at_alarm_ul
    assert run.bolus_ul > 800.0


@pytest.mark.parametrize("rate_ml_h", [0.5, 5.0])
def test_backing_off_by_the_stored_volume_keeps_the_bolus_under_0_1_ml(rate_ml_h):
    """Backing the plunger off by the stored volume before release leaves a bolus below 0.1 mL."""
    run = run_bolus(rate_ml_h, seed=SEEDS[1], back_off=True)
    assert run.backed_off_ul == pytest.approx(run.stored_at_alarm_ul, abs=1.0)
    assert 0.0 <= run.bolus_ul < 100.0


def test_data_file_holds_the_fitted_compliance():
    """Re-fitting the compliance scale against the published 0.5 mL/h time returns ~1 (data calibrated)."""
    scale = fit_compliance_scale(tolerance_min=0.3, bracket=(0.8, 1.25))
    assert scale == pytest.approx(1.0, abs=0.03)


def test_a_more_compliant_line_alarms_later():
    """Doubling the compliance roughly doubles the fluid part of the time to alarm."""
    from sim.plant import load_plant_params

    base = run_occlusion(5.0, seed=None).time_to_alarm_s
    soft = run_occlusion(5.0, seed=None, params=load_plant_params().with_compliance_scale(2.0)).time_to_alarm_s
    assert 1.5 * base < soft < 2.2 * base
    assert math.isfinite(soft)
