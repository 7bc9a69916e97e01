"""Prescriptions the pump must refuse, and the one it may accept only after confirmation."""

import pytest

from hil.acceptance.helpers import monitor_reports, prescription, real_pace, time_limit
from hil.client import PumpError

pytestmark = time_limit(0)  # no infusion runs its course: only the set-up margin


def test_hard_limit_is_refused(pump):
    """1.5 mg/kg (above the 1.0 mg/kg hard limit) is refused with field, value and range."""
    with pytest.raises(PumpError) as e:
        pump.program(**prescription(70, 1.5, 10, 40))
    assert (e.value.code, e.value.field, e.value.value, e.value.allowed) == ("HARD_LIMIT", "dose_ug_kg", 1500, "50..1000")
    assert pump.status()["state"] == "idle"


def test_wrong_syringe_is_refused(pump):
    """A syringe the table does not know is refused by name, listing the known ones."""
    with pytest.raises(PumpError) as e:
        pump.program(**prescription(70, 0.5, 10, 40, syringe="bd_plastipak_60"))
    assert e.value.code == "UNKNOWN_SYRINGE" and "bd_plastipak_5/10/20/30/50" in e.value.allowed
    assert pump.status()["state"] == "idle"


def test_concentration_not_in_the_library_is_refused(pump):
    """A 50 mg/mL vial (a classic 10x error) is not a library concentration."""
    with pytest.raises(PumpError) as e:
        pump.program(**prescription(70, 0.5, 50, 40))
    assert e.value.code == "UNKNOWN_CONCENTRATION"


def test_soft_limit_override_needs_confirmation(pump, bench):
    """0.8 mg/kg waits for confirmation; START is refused until the operator confirms the field."""
    answer = pump.program(**prescription(70, 0.8, 10, 40))
    assert answer["state"] == "awaiting_confirmation" and answer["soft"] == "dose_ug_kg"
    with pytest.raises(PumpError) as e:
        pump.start()
    assert e.value.code == "BAD_STATE"
    with pytest.raises(PumpError):
        pump.confirm(["duration_min"])
    with real_pace(bench):
        assert pump.confirm(["dose_ug_kg"])["state"] == "programmed"
        monitor_reports(pump)
        assert pump.start()["state"] == "running"
    pump.stop()
