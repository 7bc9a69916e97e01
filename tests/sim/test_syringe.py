"""Tests for sim.syringe: the host-side float view of the firmware's syringe table."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.syringe import SYRINGE_TABLE_PATH, load_syringe, load_syringe_table

ROWS = json.loads(SYRINGE_TABLE_PATH.read_text())["syringes"]


def test_every_row_of_the_firmware_table_is_loaded_in_millimetres():
    """Each table row appears with its diameter converted from um to mm and its capacity."""
    table = load_syringe_table()
    assert sorted(table) == sorted(row["id"] for row in ROWS)
    for row in ROWS:
        spec = table[row["id"]]
        assert spec.inner_diameter_mm * 1000 == pytest.approx(row["inner_diameter_um"])
        assert spec.capacity_ul == row["capacity_ul"]


def test_bd50_bore_and_travel_per_ml():
    """A BD Plastipak 50 mL (26.70 mm) has a 559.9 mm^2 bore: 1 mL is 1.786 mm of travel."""
    bd50 = load_syringe("bd_plastipak_50")
    assert bd50.area_mm2 == pytest.approx(559.9, abs=0.05)
    assert bd50.travel_um(1000.0) == pytest.approx(1786, abs=1)


def test_pressure_reading_of_a_force():
    """500 mmHg on a BD 50 mL stopper is about 37.3 N, and back."""
    bd50 = load_syringe("bd_plastipak_50")
    assert bd50.force_n(500.0) == pytest.approx(500 * 133.322 * math.pi * 0.0267**2 / 4, rel=1e-9)
    assert bd50.pressure_mmhg(bd50.force_n(500.0)) == pytest.approx(500.0)


@given(syringe_id=st.sampled_from([row["id"] for row in ROWS]), volume_ul=st.floats(0.0, 60000.0))
def test_travel_and_volume_are_inverses(syringe_id, volume_ul):
    """volume_ul(travel_um(v)) == v for every syringe."""
    spec = load_syringe(syringe_id)
    assert spec.volume_ul(spec.travel_um(volume_ul)) == pytest.approx(volume_ul, abs=1e-9)


def test_unknown_syringe_names_the_known_ones():
    """An unknown id is refused with the list of ids the table has."""
    with pytest.raises(ValueError, match="bd_plastipak_50"):
        load_syringe("acme_42")
