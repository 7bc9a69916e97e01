"""Delivered volume against the prescribed dose, measured by the balance (not the pump's count),
for a matrix of weights, doses, concentrations and syringes.

On a real bench each case asks for its syringe (the operator or the rig loads it) and runs in
the pump's SERVICE state on the test-only water profile with the same volume and rate, so the
cases can follow one another without meeting the clinical 24-hour limit."""

import pytest

from hil.acceptance.helpers import (SETTLE_S, TOLERANCE_SOURCE, VOLUME_TOLERANCE_PCT, prescribed_ml, prescription,
                                    start_monitored, time_limit, wait_limit_s, wait_pump_time, weigh_ml)

# weight kg, dose mg/kg, concentration mg/mL, duration min, syringe (volume: mL)
CASES = [
    (70, 0.5, 10, 40, "bd_plastipak_50"),     # 3.5 mL, the standard session
    (40, 0.1, 1, 40, "braun_omnifix_10"),     # 4.0 mL, the lightest patient, lowest dose, diluted
    (150, 0.75, 10, 100, "terumo_20"),        # 11.25 mL, the heaviest, highest dose, longest
    (70, 0.5, 1, 40, "bd_plastipak_50"),      # 35 mL at 52.5 mL/h, diluted
    (55, 0.3, 10, 60, "bd_plastipak_5"),      # 1.65 mL at 1.65 mL/h in a 5 mL syringe
    (100, 0.25, 1, 100, "terumo_30"),         # 25 mL over 100 min
]
FILL_SPARE_ML = 5.0  # drawn up beyond the prescribed volume, so the syringe never runs empty


def work_s(duration_min: int) -> float:
    """Pump time a case takes: the infusion, then the drops settling on the balance."""
    return duration_min * 60 + SETTLE_S


@pytest.mark.parametrize("weight_kg, dose_mg_kg, conc_mg_ml, duration_min, syringe",
                         [pytest.param(*case, marks=time_limit(work_s(case[3]))) for case in CASES])
def test_delivered_volume_matches_the_prescription(pump, balance, bench, hil_report, weight_kg, dose_mg_kg,
                                                   conc_mg_ml, duration_min, syringe):
    """The balance weighs the prescribed volume, within the stated tolerance."""
    if balance is None:
        pytest.skip("needs a balance under the line (--balance-port)")
    rx = prescription(weight_kg, dose_mg_kg, conc_mg_ml, duration_min, syringe)
    want_ml = prescribed_ml(rx)
    bench.connect_balance()
    bench.load_syringe(syringe, fill_ml=min(50.0, want_ml + FILL_SPARE_ML))
    balance.tare()  # the vessel keeps what earlier cases delivered: tare, not zero (only +/-2 % of capacity)
    answer = pump.program(**bench.for_delivery(pump, rx))
    assert answer["volume_nl"] == round(want_ml * 1e6)
    start_monitored(pump, bench)
    pump.wait_for_state(("complete",), timeout_s=wait_limit_s(duration_min * 60))
    wait_pump_time(pump, bench, SETTLE_S)
    got_ml = weigh_ml(balance)
    error_pct = 100.0 * (got_ml - want_ml) / want_ml
    hil_report.measure("delivered volume error", error_pct, "%", -VOLUME_TOLERANCE_PCT, VOLUME_TOLERANCE_PCT,
                       TOLERANCE_SOURCE)
    hil_report.add(f"Delivered volume: {weight_kg} kg, {dose_mg_kg} mg/kg, {conc_mg_ml} mg/mL, {duration_min} min, {syringe}",
                   f"tolerance +/-{VOLUME_TOLERANCE_PCT:g} % ({TOLERANCE_SOURCE})",
                   rows=[{"prescribed_ml": want_ml, "weighed_ml": got_ml, "error_pct": error_pct,
                          "pump_reported_ml": pump.status()["delivered_nl"] / 1e6}])
    assert abs(error_pct) <= VOLUME_TOLERANCE_PCT, f"delivered {got_ml:.3f} mL for {want_ml:.3f} mL ({error_pct:+.2f} %)"
