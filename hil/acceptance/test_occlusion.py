"""Downstream occlusion, IEC 60601-2-24 style: time to alarm and pressure at alarm at an
intermediate and at the minimum rate, then the bolus released when the line is reopened."""

import pytest

from hil.acceptance.helpers import prescription, start_monitored, wait_pump_time, weigh_ml

RATES = {
    # name: (prescription, rate mL/h, bound on time to alarm s)
    "intermediate_5mlh": (prescription(70, 0.5, 10, 40), 5.25, 300),
    "minimum_1mlh": (prescription(70, 0.25, 10, 100), 1.05, 1200),
}
BOLUS_LIMIT_ML = 0.1  # the project's target; the GIP hazard analysis allows 0.5 mL


@pytest.mark.parametrize("case", sorted(RATES))
def test_occlusion_alarm_and_bolus(pump, balance, bench, plant, hil_report, case):
    """Closing the line alarms within the bound; reopening releases less than 0.1 mL."""
    rx, rate_ml_h, bound_s = RATES[case]
    pump.program(**rx)
    start_monitored(pump, bench)
    wait_pump_time(pump, bench, 300)  # five minutes of steady flow first
    bench.vb.pause_then(plant.plant.occlude)
    t0_ms = pump.status()["t_ms"]
    st = pump.wait_for_state(("alarm",), timeout_s=120)
    while st["state"] != "alarm":
        st = pump.status()
    time_to_alarm_s = (st["t_ms"] - t0_ms) / 1000.0
    assert st["alarm"] == "OCCLUSION"
    wait_pump_time(pump, bench, 20)  # the pressure-relief back-off completes
    before_ml = weigh_ml(balance)
    bench.vb.pause_then(plant.plant.release_occlusion)
    wait_pump_time(pump, bench, 120)
    bolus_ml = weigh_ml(balance) - before_ml
    hil_report.add(f"Occlusion at {rate_ml_h} mL/h", "IEC 60601-2-24 occlusion test on the simulated line (BD 50 mL)",
                   rows=[{"rate_ml_h": rate_ml_h, "time_to_alarm_s": time_to_alarm_s,
                          "pump_pressure_at_alarm_mmhg": st.get("alarm_pressure_mmhg"),
                          "bolus_after_release_ml": bolus_ml, "bolus_limit_ml": BOLUS_LIMIT_ML}])
    assert time_to_alarm_s <= bound_s
    assert bolus_ml <= BOLUS_LIMIT_ML
