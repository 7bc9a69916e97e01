"""Dose math from body weight, in exact integers.

Example: 0.5 mg/kg for a 70 kg patient at 10 mg/mL is 35 mg = 3.5 mL; in a BD Plastipak 50 mL
(26.70 mm bore) on a 3200 microstep/rev, 0.8 mm lead screw that is about 25,000 microsteps.

Every quantity is carried as an exact fraction of integers and rounded once, at the end, so
the result agrees with exact rational arithmetic to within half a microstep (plus the error
of the pi approximation below, under 1e-16 relative). Big integers appear here, in set-up;
the control loop never sees them. MicroPython's big integers are exact, so the results are
bit-identical on every port and on CPython.

Units: ug (drug), nL (volume), ug/mL, g (body weight), um (lengths), ms, microsteps.
"""

from firmware.compat import const
from firmware.library import DOSE_OVER_DURATION

# A continued-fraction convergent of pi, |error| < 8e-17.
PI_NUM = const(245850922)
PI_DEN = const(78256779)

NL_PER_ML = const(1000000)
UM3_PER_NL = const(1000000)
MS_PER_MIN = const(60000)


def round_div(num: int, den: int) -> int:
    """num / den rounded half up, for non-negative num and positive den."""
    return (2 * num + den) // (2 * den)


def dose_ug(profile_mode: str, weight_g: int, dose_ug_kg: int, rate_ug_kg_h: int, duration_min: int) -> tuple:
    """Total drug as an exact fraction (num, den) of ug."""
    if profile_mode == DOSE_OVER_DURATION:
        return dose_ug_kg * weight_g, 1000
    return rate_ug_kg_h * weight_g * duration_min, 1000 * 60


def volume_nl(dose: tuple, conc_ug_ml: int) -> tuple:
    """Volume of solution as an exact fraction (num, den) of nL."""
    return dose[0] * NL_PER_ML, dose[1] * conc_ug_ml


def steps_per_nl(inner_diameter_um: int, drive) -> tuple:
    """Microsteps per nL as an exact fraction: travel = volume / (pi d^2 / 4), steps = travel / pitch * usteps."""
    return 4 * UM3_PER_NL * drive.usteps_per_rev * PI_DEN, PI_NUM * inner_diameter_um * inner_diameter_um * drive.lead_pitch_um


def total_steps(volume: tuple, inner_diameter_um: int, drive) -> int:
    num, den = steps_per_nl(inner_diameter_um, drive)
    return round_div(volume[0] * num, volume[1] * den)


def steps_to_nl(steps: int, inner_diameter_um: int, drive) -> int:
    """Volume pushed by `steps` microsteps, rounded to the nL (set-up and reporting only)."""
    num, den = steps_per_nl(inner_diameter_um, drive)
    if steps < 0:
        return -round_div(-steps * den, num)
    return round_div(steps * den, num)


def rate_nl_h(volume: tuple, duration_min: int) -> int:
    return round_div(volume[0] * 60, volume[1] * duration_min)
