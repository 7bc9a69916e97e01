"""Alarms a tester must see: syringe empty, syringe removed, vitals pause, power loss recovery.
On a real bench the syringe is loaded, pulled out and the power cut by the operator or the rig."""

import pytest

from hil.acceptance.helpers import (monitor_reports, prescription, real_pace, start_monitored, time_limit, wait_limit_s,
                                    wait_pump_time)
from hil.client import PumpError

STANDARD = prescription(70, 0.5, 10, 40)  # 3.5 mL at 5.25 mL/h
EMPTY_FILL_ML = 2.0
EMPTY_WORK_S = EMPTY_FILL_ML / 5.25 * 3600 + 60  # the syringe runs empty, then a minute held
POWER_CUT_AT_S = 600
POWER_OFF_S = 30


@time_limit(EMPTY_WORK_S)
def test_syringe_empty(pump, bench):
    """A syringe holding 2 mL for a 3.5 mL prescription ends in SYRINGE_EMPTY, motor stopped."""
    bench.load_syringe("bd_plastipak_50", fill_ml=EMPTY_FILL_ML)
    pump.program(**bench.for_delivery(pump, STANDARD))
    start_monitored(pump, bench)
    st = pump.wait_for_state(("alarm",), timeout_s=wait_limit_s(EMPTY_WORK_S))
    assert st["alarm"] == "SYRINGE_EMPTY"
    held = st["steps"]
    wait_pump_time(pump, bench, 60)
    assert pump.status()["steps"] == held


@time_limit(90)
def test_syringe_removed(pump, bench):
    """Pulling the syringe out while running latches SYRINGE_REMOVED."""
    bench.load_syringe("bd_plastipak_50", fill_ml=10.0)
    pump.program(**bench.for_delivery(pump, STANDARD))
    start_monitored(pump, bench)
    wait_pump_time(pump, bench, 60)
    bench.remove_syringe()
    st = pump.wait_for_state(("alarm",), timeout_s=wait_limit_s(30))
    assert st["alarm"] == "SYRINGE_REMOVED"


@time_limit(90)
def test_vitals_pause_and_operator_resume(pump, bench):
    """A BP of 205/125 pauses the infusion with a VITALS alarm; only the operator resumes it, and
    only once a new reading is below the criteria (250/130 again: RESUME refused)."""
    bench.load_syringe("bd_plastipak_50", fill_ml=10.0)
    pump.program(**bench.for_delivery(pump, STANDARD))
    start_monitored(pump, bench)
    wait_pump_time(pump, bench, 60)
    monitor_reports(pump, sbp=205, dbp=125, hr=88, spo2=97)
    st = pump.status()
    assert st["state"] == "alarm" and st["alarm"] == "VITALS"
    assert pump.acknowledge()["state"] == "paused"
    held = pump.status()["steps"]
    wait_pump_time(pump, bench, 30)
    assert pump.status()["steps"] == held
    with real_pace(bench), pytest.raises(PumpError) as e:
        monitor_reports(pump, sbp=250, dbp=130, hr=88, spo2=97)
        pump.resume()  # not while the BP that paused it is still there
    assert e.value.code == "VITALS_ABNORMAL" and e.value.field == "sbp"
    assert start_monitored(pump, bench, "resume", sbp=150, dbp=90, hr=80, spo2=97)["state"] == "running"
    pump.stop()


@time_limit(STANDARD["duration_min"] * 60 + POWER_OFF_S + 60)
def test_power_loss_recovery(pump, bench):
    """After a power cut mid-infusion the pump comes up in alarm, knows what it delivered, and
    does not resume by itself; the operator can resume and the total is then exact."""
    bench.load_syringe("bd_plastipak_50", fill_ml=10.0)
    total = pump.program(**bench.for_delivery(pump, STANDARD))["total_steps"]
    start_monitored(pump, bench)
    st = wait_pump_time(pump, bench, POWER_CUT_AT_S)
    before = st["steps"]
    bench.power_cycle(POWER_OFF_S, pump)
    st = pump.status()
    assert st["state"] == "alarm" and st["alarm"] == "POWER_LOSS"
    assert before <= st["steps"] <= before + total // 40  # within one progress interval, never under
    wait_pump_time(pump, bench, 60)
    assert pump.status()["steps"] == st["steps"]  # no motion on its own
    assert pump.acknowledge()["state"] == "paused"
    start_monitored(pump, bench, "resume")
    done = pump.wait_for_state(("complete",), timeout_s=wait_limit_s(STANDARD["duration_min"] * 60 - POWER_CUT_AT_S))
    assert done["steps"] == total
