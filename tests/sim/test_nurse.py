"""The nurse: alarm response from a seeded distribution, one chair at a time."""

import pytest
import simpy

from sim import report, runner
from sim import scenario as scn
from sim.engine import BOARD, Wake
from sim.nurse import AlarmResponse, Nurse
from sim.operator import Answer


def _summary(overrides=()):
    s = scn.load(scn.SCENARIO_DIR / "occlusion_nurse.toml", list(overrides))
    return report.summary(runner.run(s, runtime="cpython"), {})


def test_the_nurse_clears_the_occlusion_and_the_infusion_completes():
    """No scripted acknowledge or release: the nurse answers the OCCLUSION alarm, resumes, and
    the prescribed volume is delivered."""
    s = _summary()
    assert [a["code"] for a in s["alarms"]] == ["OCCLUSION"]
    (response,), (to_resume,) = s["alarm_response_s"], s["time_alarm_to_resume_s"]
    assert 0 < response <= to_resume
    assert s["end_state"] == "complete" and abs(s["volume_error_pct"]) < 0.5


def test_a_fixed_response_time_is_the_median_plus_the_acknowledgement():
    """With no spread the nurse comes after exactly the median; the ACK is answered one tick later."""
    s = _summary(["nurse.response_spread=0", "nurse.response_median_s=120"])
    assert s["alarm_response_s"] == [pytest.approx(120.1)]
    assert s["time_alarm_to_resume_s"] == [pytest.approx(120.2)]


def test_without_a_nurse_the_alarm_stays_unanswered():
    """The same occlusion with no nurse: the pump stays in alarm and no response is reported."""
    s = _summary(["nurse.present=false"])
    assert s["end_state"] == "alarm" and s["alarm_response_s"] is None


class _Chair:
    """A chair whose pump answers every command OK on the next 100 ms tick."""

    def __init__(self, env):
        self.env = env
        self.operator = self
        self.board = self
        self.tick_ms = 100
        self.commands = []

    def command(self, cmd):
        self.commands.append((self.env.now, cmd))
        return self.env.process(self._answer(cmd))

    def _answer(self, cmd):
        yield Wake(self.env, 100, BOARD)
        return Answer(True, cmd, {})


def test_one_nurse_attends_two_chairs_one_after_the_other():
    """Two chairs alarm at once: the second waits while the nurse is at the first, so its
    response is twice as long; her busy time is both visits."""
    env = simpy.Environment()
    nurse = Nurse(env, response_median_s=60, response_spread=0, seed=1)
    chairs = [_Chair(env), _Chair(env)]
    responses = [AlarmResponse(nurse, c) for c in chairs]
    for r in responses:
        r.alarm("VITALS")
    env.run()
    assert responses[0].response_s == [pytest.approx(60.1)]
    assert responses[1].response_s == [pytest.approx(120.2)]
    assert nurse.busy_ms == 2 * 60100
