"""Dose math: weight-based totals, volumes and microsteps in exact integers."""

import math

from firmware import dosing
from firmware.library import DOSE_OVER_DURATION, DOSE_RATE
from tests.firmware.fixtures import SYRINGES, board


def test_standard_dose_totals():
    """0.5 mg/kg x 70 kg = 35 mg; at 10 mg/mL that is 3.5 mL."""
    dose = dosing.dose_ug(DOSE_OVER_DURATION, 70000, 500, 0, 40)
    assert dosing.round_div(dose[0], dose[1]) == 35000
    vol = dosing.volume_nl(dose, 10000)
    assert dosing.round_div(vol[0], vol[1]) == 3500000


def test_rate_profile_totals():
    """0.2 mg/kg/h x 70 kg x 2 h = 28 mg; at 1 mg/mL that is 28 mL."""
    dose = dosing.dose_ug(DOSE_RATE, 70000, 0, 200, 120)
    assert dosing.round_div(dose[0], dose[1]) == 28000
    vol = dosing.volume_nl(dose, 1000)
    assert dosing.round_div(vol[0], vol[1]) == 28000000


def test_steps_per_ml_matches_reference_example():
    """3200 usteps/rev, 0.8 mm pitch, BD 50 mL: about 7,100 usteps/mL (docs/references.md#drive)."""
    d_um = SYRINGES.get("bd_plastipak_50").inner_diameter_um
    steps = dosing.total_steps((1000000, 1), d_um, board("RPI_PICO").drive)
    area_mm2 = math.pi * (d_um / 1000.0) ** 2 / 4
    expected = 1000.0 / area_mm2 / 0.8 * 3200
    assert abs(steps - expected) <= 1
    assert 7000 < steps < 7200


def test_steps_roundtrip_to_volume():
    """Converting a step count back to nL lands within one step's volume of the start."""
    drive = board("ESP32_DEVKITC").drive
    d_um = SYRINGES.get("terumo_20").inner_diameter_um
    for nl in (1000, 3500000, 19999999):
        steps = dosing.total_steps((nl, 1), d_um, drive)
        one_step_nl = dosing.steps_to_nl(1000, d_um, drive) / 1000
        assert abs(dosing.steps_to_nl(steps, d_um, drive) - nl) <= one_step_nl


def test_wrong_syringe_is_a_twenty_percent_error():
    """The same volume in a 50 mL Omnifix takes ~20 % fewer steps than in a BD Plastipak."""
    drive = board().drive
    bd = dosing.total_steps((3500000, 1), SYRINGES.get("bd_plastipak_50").inner_diameter_um, drive)
    bb = dosing.total_steps((3500000, 1), SYRINGES.get("braun_omnifix_50").inner_diameter_um, drive)
    assert 0.80 < bb / bd < 0.85


def test_round_div_rounds_half_up():
    """round_div rounds to nearest, halves up."""
    assert dosing.round_div(5, 2) == 3
    assert dosing.round_div(4, 3) == 1
    assert dosing.round_div(5, 3) == 2
    assert dosing.round_div(0, 7) == 0
