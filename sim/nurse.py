"""The nurse: answers the pump's alarms after a response time drawn from a seeded distribution.

The nurse is a `simpy.Resource` of one: she attends one alarm at a time, and an alarm that
comes while she is busy waits for her. When the pump alarms she comes to the chair after a
response time (lognormal: the scenario's `[nurse]` median and spread, seeded), clears what she
can (an occluded line: she finds the kink or the closed clamp and opens it), acknowledges the
alarm, and resumes the infusion where the pump allows it. For each alarm the run records the
time from the alarm to her acknowledgement (`alarm_response_s`) and to the pump running again
(`time_alarm_to_resume_s`, None when it did not resume).
"""

from __future__ import annotations

import math
import random
from typing import Any

import simpy

from sim.engine import ACT, Wake, at_tick, now_ms

# What the nurse clears at the bedside before acknowledging, and which alarms she resumes after.
CLEARS = {"OCCLUSION": "release_occlusion"}
RESUMES = ("OCCLUSION", "POWER_LOSS")


class Nurse:
    def __init__(self, env: simpy.Environment, response_median_s: float, response_spread: float, seed: int) -> None:
        self.env = env
        self.staff = simpy.Resource(env, capacity=1)
        self.median_s = response_median_s
        self.spread = response_spread
        self.rng = random.Random(seed)
        self.busy_ms = 0  # time spent at chairs, for her utilisation

    def response_ms(self) -> int:
        return round(1000 * self.median_s * math.exp(self.spread * self.rng.gauss(0.0, 1.0)))


class AlarmResponse:
    """One chair's alarms, answered by the nurse (`chair`: its operator, plant and tick)."""

    def __init__(self, nurse: Nurse, chair: Any) -> None:
        self.nurse = nurse
        self.chair = chair
        self.response_s: list[float | None] = []
        self.to_resume_s: list[float | None] = []

    def alarm(self, code: str) -> None:
        self.response_s.append(None)
        self.to_resume_s.append(None)
        self.nurse.env.process(self._attend(code, len(self.response_s) - 1))

    def _attend(self, code: str, i: int):
        env, chair = self.nurse.env, self.chair
        t_alarm = now_ms(env)
        with self.nurse.staff.request() as turn:
            yield turn
            arrived = now_ms(env)
            yield Wake(env, at_tick(self.nurse.response_ms(), chair.board.tick_ms), ACT)
            if code in CLEARS:
                getattr(chair.plant.plant, CLEARS[code])()
            ack = yield chair.operator.command("ACK")
            if ack.ok:
                self.response_s[i] = (env.now - t_alarm) / 1000.0
            if ack.ok and code in RESUMES:
                resumed = yield chair.operator.command("RESUME")
                if resumed.ok:
                    self.to_resume_s[i] = (env.now - t_alarm) / 1000.0
            self.nurse.busy_ms += now_ms(env) - arrived
