"""Line pressure and plunger force, through the syringe's bore.

The pump measures force on the plunger; pressure levels (mmHg) are what clinicians set. For a
BD Plastipak 50 mL (26.70 mm bore, 560 mm^2) 500 mmHg is about 37 N; for a 5 mL syringe the same
pressure is under 8 N, which is why every threshold is converted per syringe, at set-up, into
raw load-cell counts the control loop compares without arithmetic.
"""

from firmware.dosing import PI_DEN, PI_NUM, round_div

# 1 mmHg = 133.322 Pa; force [N] = P [Pa] x A [m^2], A = pi d^2 / 4 with d in um: 1e-12 m^2/um^2
_PA_PER_MMHG_MILLI = 133322


def force_mn(pressure_mmhg: int, inner_diameter_um: int) -> int:
    """Force in mN that pressure_mmhg exerts on the stopper."""
    num = pressure_mmhg * _PA_PER_MMHG_MILLI * PI_NUM * inner_diameter_um * inner_diameter_um
    return round_div(num, 4 * PI_DEN * 1000000000000)


def pressure_mmhg(force_mn_: int, inner_diameter_um: int) -> int:
    """Pressure in mmHg that a force in mN on the stopper corresponds to (reporting)."""
    if force_mn_ <= 0:
        return -round_div(-force_mn_ * 4 * PI_DEN * 1000000000000, _PA_PER_MMHG_MILLI * PI_NUM * inner_diameter_um * inner_diameter_um)
    return round_div(force_mn_ * 4 * PI_DEN * 1000000000000, _PA_PER_MMHG_MILLI * PI_NUM * inner_diameter_um * inner_diameter_um)


def counts_for_mn(force_mn_: int, counts_per_n: int) -> int:
    """Load-cell counts (above the offset) for a force in mN."""
    return round_div(force_mn_ * counts_per_n, 1000) if force_mn_ >= 0 else -round_div(-force_mn_ * counts_per_n, 1000)
