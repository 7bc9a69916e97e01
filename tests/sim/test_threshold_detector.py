"""Tests for sim.threshold_detector: the plain pressure-threshold occlusion alarm."""

import json

import pytest

from sim.plant import PLANT_CALIBRATION_PATH
from sim.threshold_detector import ThresholdDetector


def test_alarms_only_above_the_threshold():
    """Readings at or below the level do not alarm; the first one above does (no delay)."""
    detector = ThresholdDetector(500.0)
    assert not detector.update(0.0, 100.0)
    assert not detector.update(0.1, 500.0)
    assert detector.update(0.2, 500.1)
    assert detector.alarm_t_s == 0.2


def test_alarm_is_latched_until_reset():
    """Once raised the alarm stays on when pressure falls, until reset."""
    detector = ThresholdDetector(300.0)
    detector.update(0.0, 301.0)
    assert detector.update(1.0, 0.0)
    detector.reset()
    assert not detector.alarm
    assert not detector.update(2.0, 0.0)


def test_confirmation_delay_needs_a_sustained_excess():
    """With a 2 s confirmation, a short excess does not alarm and a dip restarts the wait."""
    detector = ThresholdDetector(300.0, confirm_s=2.0)
    assert not detector.update(0.0, 310.0)
    assert not detector.update(1.5, 310.0)
    assert not detector.update(1.6, 290.0)
    assert not detector.update(1.7, 310.0)
    assert not detector.update(3.6, 310.0)
    assert detector.update(3.7, 310.0)


def test_level_and_delay_come_from_the_data_file():
    """from_data() uses the threshold and confirmation delay kept in the plant calibration file."""
    data = json.loads(PLANT_CALIBRATION_PATH.read_text())["threshold_detector"]
    detector = ThresholdDetector.from_data()
    assert detector.threshold_mmhg == data["threshold_mmhg"]
    assert detector.confirm_s == data["confirm_s"]


def test_bad_settings_are_refused():
    """A non-positive level or a negative delay is refused."""
    with pytest.raises(ValueError, match="50-900"):
        ThresholdDetector(0.0)
    with pytest.raises(ValueError, match=">= 0"):
        ThresholdDetector(500.0, confirm_s=-1.0)
