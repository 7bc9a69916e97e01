"""The safety scenarios end in the right alarm, with the figures in the summary."""

import pytest

from sim import report, runner
from sim import scenario as scn
from sim.scenario import Event


def _summary(name, runtime="cpython"):
    return report.summary(runner.run(scn.load(scn.SCENARIO_DIR / f"{name}.toml"), runtime=runtime), {})


@pytest.mark.parametrize("name, alarm", [("occlusion_1mlh", "OCCLUSION"), ("near_empty", "SYRINGE_EMPTY"),
                                         ("hypertension", "VITALS"), ("power_loss", "POWER_LOSS")])
def test_scenario_ends_in_its_alarm(name, alarm):
    """Each fault scenario raises its alarm first, and its [expect] table holds."""
    s = _summary(name)
    assert s["alarms"] and s["alarms"][0]["code"] == alarm
    assert all(v["ok"] for v in s["expectations"].values()), s["expectations"]
    if name != "near_empty":  # running out is not an injected fault with a start time
        assert s["time_to_alarm_s"] is not None and s["time_to_alarm_s"] > 0
        assert s["alarm_pressure_mmhg"] is not None


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_occlusion_release_bolus_and_completion(runtime):
    """5 mL/h occlusion: alarm within 5 min, bolus on release under 0.1 mL, then the infusion completes."""
    s = _summary("occlusion_5mlh", runtime)
    assert s["alarms"][0]["code"] == "OCCLUSION" and s["time_to_alarm_s"] <= 300
    assert 0 <= s["bolus_after_release_ml"] < 0.1
    assert s["end_state"] == "complete" and abs(s["volume_error_pct"]) <= 0.5


def test_trend_detector_beats_the_plain_threshold_on_the_same_plant():
    """At 1 mL/h the project's detector alarms several times sooner than a 500 mmHg threshold."""
    from sim.calibration import run_occlusion

    baseline = run_occlusion(1.05, seed=1)
    s = _summary("occlusion_1mlh")
    assert s["time_to_alarm_s"] * 3 < baseline.time_to_alarm_s


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_one_high_cuff_reading_on_a_15_min_cycle_does_not_pause(runtime, monkeypatch):
    """cuff_15min: the monitor reads about 186/103 once (a 2-min surge) and HR/SpO2 every 5 s after;
    the reading is judged once, so the session completes without a VITALS pause."""
    from sim import operator as op

    sent = []
    command = op.Operator.command

    def record(self, cmd, **kv):
        if cmd == "VITALS":
            sent.append(kv)
        return command(self, cmd, **kv)

    monkeypatch.setattr(op.Operator, "command", record)
    s = _summary("cuff_15min", runtime)
    cuff = [(kv["sbp"], kv["dbp"]) for kv in sent if "bp_id" in kv]
    high = [(sbp, dbp) for sbp, dbp in cuff if sbp > 180 or dbp > 110]
    assert len(high) == 1  # one reading past the two-readings criterion (about 186/103), judged once
    assert len(cuff) == len({kv["bp_id"] for kv in sent if "bp_id" in kv}) == 4  # each cuff reading once
    assert len(sent) > 600 and s["alarms"] == []
    assert all(v["ok"] for v in s["expectations"].values()), s["expectations"]


def test_resume_after_a_power_cut_waits_for_a_new_cuff_reading():
    """The pump forgets vitals in a reset: cut at 21 min (after the 20.5 min cuff reading), RESUME
    at 24 min is refused for want of BP; the nurse takes a reading by hand and the infusion
    resumes and completes."""
    s = scn.load(scn.SCENARIO_DIR / "power_loss.toml")
    s.events[:] = [Event(21.0, "power_loss", {"off_s": 30}), Event(23.0, "acknowledge", {}), Event(24.0, "resume", {})]
    r = runner.simulation(s, runtime="cpython")
    result = r.run()
    refused = [a for a in r.operator.answers if not a.ok]
    assert [(a.code, a["field"]) for a in refused] == [("VITALS_MISSING", "bp")]
    manual = [e["t_min"] for e in result.scenario_log if e["action"] == "manual_cuff_reading"]
    assert len(manual) == 1 and 24.0 <= manual[0] < 24.01  # at the refusal
    assert report.summary(result, {})["end_state"] == "complete"
