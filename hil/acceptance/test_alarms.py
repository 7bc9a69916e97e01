"""Alarms a tester must see: syringe empty, syringe removed, vitals pause, power loss recovery."""

import pytest

from hil.acceptance.helpers import monitor_reports, prescription, real_pace, start_monitored, wait_pump_time
from hil.client import PumpError


def test_syringe_empty(pump, bench, plant):
    """A syringe holding 2 mL for a 3.5 mL prescription ends in SYRINGE_EMPTY, motor stopped."""
    bench.load_syringe("bd_plastipak_50", fill_ml=2.0)
    pump.program(**prescription(70, 0.5, 10, 40))
    start_monitored(pump, bench)
    st = pump.wait_for_state(("alarm",), timeout_s=120)
    assert st["alarm"] == "SYRINGE_EMPTY"
    held = st["steps"]
    wait_pump_time(pump, bench, 60)
    assert pump.status()["steps"] == held


def test_syringe_removed(pump, bench, plant):
    """Pulling the syringe out while running latches SYRINGE_REMOVED."""
    pump.program(**prescription(70, 0.5, 10, 40))
    start_monitored(pump, bench)
    wait_pump_time(pump, bench, 60)
    bench.vb.pause_then(plant.plant.remove_syringe)
    st = pump.wait_for_state(("alarm",), timeout_s=30)
    assert st["alarm"] == "SYRINGE_REMOVED"


def test_vitals_pause_and_operator_resume(pump, bench):
    """A BP of 205/125 pauses the infusion with a VITALS alarm; only the operator resumes it, and
    only once a new reading is below the criteria (250/130 again: RESUME refused)."""
    pump.program(**prescription(70, 0.5, 10, 40))
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


def test_power_loss_recovery(pump, bench, plant):
    """After a power cut mid-infusion the pump comes up in alarm, knows what it delivered, and
    does not resume by itself; the operator can resume and the total is then exact."""
    if bench.kind != "virtual":
        pytest.skip("cutting the power needs the virtual board")
    total = pump.program(**prescription(70, 0.5, 10, 40))["total_steps"]
    start_monitored(pump, bench)
    st = wait_pump_time(pump, bench, 600)
    before = st["steps"]
    bench.power_cycle(30)
    pump.connect()
    st = pump.status()
    assert st["state"] == "alarm" and st["alarm"] == "POWER_LOSS"
    assert before <= st["steps"] <= before + total // 40  # within one progress interval, never under
    wait_pump_time(pump, bench, 60)
    assert pump.status()["steps"] == st["steps"]  # no motion on its own
    assert pump.acknowledge()["state"] == "paused"
    start_monitored(pump, bench, "resume")
    done = pump.wait_for_state(("complete",), timeout_s=120)
    assert done["steps"] == total
