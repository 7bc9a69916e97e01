"""The simulation engine: phases, pacing, and the same run in both runtimes for every scenario."""

import os
import time

import pytest
import simpy

from sim import report, runner
from sim import scenario as scn
from sim.engine import ACT, BOARD, PATIENT, RECORD, Paced, Wake, at_tick

SCENARIOS = sorted(p.stem for p in scn.SCENARIO_DIR.glob("*.toml"))


def test_phases_order_processes_waking_at_the_same_instant():
    """Whatever order processes were created in, at one instant the board goes first, then the
    patient, the recorder, and the actors last."""
    env = simpy.Environment()
    order = []

    def wake_every(name, period_ms, phase):
        while True:
            yield Wake(env, period_ms, phase)
            order.append((env.now, name))

    for name, period, phase in (("act", 1000, ACT), ("record", 5000, RECORD), ("patient", 1000, PATIENT),
                                ("board", 100, BOARD)):
        env.process(wake_every(name, period, phase))
    env.run(until=5001)
    at_5s = [name for t, name in order if t == 5000]
    assert at_5s == ["board", "patient", "record", "act"]


def test_actions_reach_the_first_tick_at_or_after_their_time():
    """An action at 0.5 min waits for the tick at 30,000 ms; one a hair later for the next."""
    assert at_tick(0.5 * 60000, 100) == 30000
    assert at_tick(30000.0001, 100) == 30100
    assert at_tick(0, 100) == 0


def test_paced_keeps_the_pace_and_wakes_early_for_the_host():
    """At 20x, 2 simulated seconds take at least 0.1 s of wall time; with bytes waiting on the
    wake descriptor the same events run at once."""
    env = Paced(20.0)
    env.process(_ticks(env, 20))
    t0 = time.monotonic()
    env.run(until=2000)
    assert time.monotonic() - t0 >= 0.095
    r, w = os.pipe()
    try:
        os.write(w, b"x")
        env = Paced(0.001, wake_fd=r)  # a simulated second per 1000 wall seconds, were it not woken
        env.process(_ticks(env, 20))
        env.run(until=2000)
        assert env.now == 2000
    finally:
        os.close(r)
        os.close(w)


def _ticks(env, n):
    for _ in range(n):
        yield Wake(env, 100, BOARD)


def _short(name):
    """The scenario cut to a few minutes past its last event (a course to two sessions)."""
    s = scn.load(scn.SCENARIO_DIR / f"{name}.toml")
    last = max([e.at_min for e in s.events], default=0.0)
    end = min(s["run"]["end_min"], max(12.0, last + 3.0))
    overrides = [f"run.end_min={end}"]
    if s["course"]["sessions"] > 1:
        overrides += ["course.sessions=2", "course.interval_days=1"]
    return scn.load(scn.SCENARIO_DIR / f"{name}.toml", overrides)


def _same_in_both_runtimes(s, tmp_path):
    runs = {rt: runner.run(s, runtime=rt) for rt in ("cpython", "micropython")}
    for rt, r in runs.items():
        report.write_csv(r.samples, tmp_path / f"{rt}.csv")
    assert (tmp_path / "cpython.csv").read_bytes() == (tmp_path / "micropython.csv").read_bytes()
    a, b = runs["cpython"], runs["micropython"]
    assert a.final_status == b.final_status and a.alarms == b.alarms and a.sessions == b.sessions
    assert a.samples, "a run without samples compares nothing"


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_gives_the_same_csv_in_both_runtimes(name, tmp_path):
    """Shortened to a few minutes past its last event: CPython and MicroPython firmware give the
    same time series byte for byte, the same alarms and the same final status."""
    _same_in_both_runtimes(_short(name), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_full_scenario_gives_the_same_csv_in_both_runtimes(name, tmp_path):
    """As above, at each scenario's full length and course."""
    _same_in_both_runtimes(scn.load(scn.SCENARIO_DIR / f"{name}.toml"), tmp_path)
