"""Each acceptance test's time limit comes from its work: a bench delivery of 100 min, or the
two-hour IEC 60601-2-24 test, is not killed by the unit tests' 300 s default."""

import tomllib

import pytest

from hil.acceptance import test_accuracy, test_delivery, test_occlusion
from hil.acceptance.helpers import TIMEOUT_MARGIN_S
from sim.bus import ROOT


class _Collect:
    def __init__(self) -> None:
        self.items = {}

    def pytest_collection_finish(self, session):
        for item in session.items:
            marker = item.get_closest_marker("timeout")
            self.items[item.nodeid.split("::", 1)[1]] = marker.args[0] if marker else None


@pytest.fixture(scope="module")
def limits():
    collect = _Collect()
    code = pytest.main([str(ROOT / "hil" / "acceptance"), "--collect-only", "-q", "-m", "slow or not slow",
                        "-p", "no:cacheprovider"], plugins=[collect])
    assert code == 0
    return collect.items


def test_every_acceptance_test_has_its_own_time_limit(limits):
    assert len(limits) >= 18 and all(isinstance(v, int) for v in limits.values()), limits


def test_each_delivery_case_is_given_its_duration_and_margin(limits):
    """Each case: its prescription's duration and the settling time, plus a quarter, plus the margin."""
    for case in test_delivery.CASES:
        (limit,) = [v for k, v in limits.items() if k.startswith("test_delivered_volume") and f"-{case[3]}-{case[4]}]" in k
                    and k.split("[")[1].startswith(f"{case[0]}-{case[1]}-{case[2]}-")]
        work = case[3] * 60 + 60
        assert limit == round(work * 1.25) + TIMEOUT_MARGIN_S
        assert limit > work + TIMEOUT_MARGIN_S / 2  # room for the hands and the settling
    assert max(v for k, v in limits.items() if k.startswith("test_delivered_volume")) >= 100 * 60 * 1.25


def test_the_iec_test_is_given_its_two_hours(limits):
    for case in test_accuracy.RATES:
        assert limits[f"test_gravimetric_accuracy[{case}]"] >= 2 * 3600 * 1.25 + TIMEOUT_MARGIN_S


def test_occlusion_limits_cover_the_alarm_bound(limits):
    for case, (_, _, bound_s) in test_occlusion.RATES.items():
        assert limits[f"test_occlusion_alarm_and_bolus[{case}]"] >= test_occlusion.STEADY_S + bound_s + TIMEOUT_MARGIN_S


def test_unit_tests_keep_a_default():
    """The unit tests keep pytest-timeout's project default, shorter than any bench limit."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 0 < cfg["timeout"] <= 600
