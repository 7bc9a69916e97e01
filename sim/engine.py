"""The simulation engine: one SimPy environment whose clock is integer milliseconds.

Everything that happens in a simulated session is a SimPy process: the board (one firmware
tick per tick_ms through a board backend, the plant advanced to the counted STEP position),
the patient and the vitals monitor (every second), the recorder (a sample every sample_s), the
operator (scripts typed on the command link), and the scenario's faults and actions, each
firing at its time. `python -m sim run` runs it as fast as it can (`simpy.Environment`);
`python -m hil virtual` runs the same processes paced to the wall clock (`Paced`, a
`simpy.rt.RealtimeEnvironment`), with the board's command link on a pty.

Several processes often wake at the same millisecond (every second the board, the patient,
the monitor and the recorder do). Which goes first is fixed by its phase, SimPy's event
priority, so a run does not depend on the order processes happened to be created in:

    BOARD    the tick arriving at this instant (the firmware has run up to now)
    REPLY    what reacts to the board's output (SimPy's NORMAL: an answer the operator awaited)
    PATIENT  the drug that left the line up to now reaches the patient
    MONITOR  the monitor reads the patient as it is now
    RECORD   samples and safety measurements see all of the above
    ACT      the operator, the nurse and the scenario's faults act; the board sees it next tick
    COURSE   a session ends or begins, after everything else at this instant
"""

from __future__ import annotations

import select
from time import monotonic
from typing import Any, Callable, Generator

import simpy
from simpy.core import EmptySchedule, Environment, Infinity
from simpy.events import NORMAL, URGENT, Event, EventPriority
from simpy.rt import RealtimeEnvironment

BOARD, REPLY, PATIENT, MONITOR, RECORD, ACT, COURSE = (EventPriority(i) for i in range(7))
assert BOARD == URGENT and REPLY == NORMAL


class Wake(Event):
    """A timeout in a phase: triggers `delay_ms` from now, after the earlier phases of that
    instant (SimPy's own Timeout always has NORMAL priority). `then` is called when it does."""

    def __init__(self, env: Environment, delay_ms: int, phase: EventPriority, then: Callable[[Any], None] | None = None) -> None:
        # Inlined Event.__init__, as simpy.events.Timeout does: this runs once per tick.
        self.env = env
        self.callbacks = [] if then is None else [then]
        self._value = None
        self._ok = True
        self.delay_ms = delay_ms
        env.schedule(self, phase, delay_ms)


def every(env: Environment, period_ms: int, phase: EventPriority, action: Callable[[], object],
          until_ms: float = Infinity) -> Generator[Event, None, None]:
    """A process body: `action()` every period_ms from now, the last time at or before until_ms."""
    while env.now + period_ms <= until_ms:
        yield Wake(env, period_ms, phase)
        action()


def now_ms(env: Environment) -> int:
    """The engine's time; it only ever moves by whole milliseconds."""
    return int(env.now)


def at_tick(t_ms: float, tick_ms: int) -> int:
    """The first tick boundary at or after t_ms: when the board can first see an action."""
    k = int(t_ms // tick_ms)
    return k * tick_ms if k * tick_ms >= t_ms else (k + 1) * tick_ms


def environment() -> simpy.Environment:
    """The engine as fast as it can go: `python -m sim run`."""
    return simpy.Environment()


class Paced(RealtimeEnvironment):
    """The engine at `speed` simulated seconds per wall second (0: as fast as it can go).

    Like `RealtimeEnvironment` it sleeps until an event's wall-clock time, but it sleeps on
    `wake_fd` (the command link's pty): while the host's bytes wait there, events run at once,
    up to the board's tick that reads them, so an answer is not held back by the pace; the
    events after it wait that much longer, and the pace over time is kept.
    """

    def __init__(self, speed: float, wake_fd: int | None = None) -> None:
        super().__init__(initial_time=0, factor=_factor(speed), strict=False)
        self.speed = speed
        self.wake_fd = wake_fd

    def set_speed(self, speed: float) -> None:
        """Change the pace from now on (pacing is measured from this moment)."""
        self._factor = _factor(speed)
        self.speed = speed
        self.env_start = self.now
        self.real_start = monotonic()

    def step(self) -> None:
        t = self.peek()
        if t is Infinity:
            raise EmptySchedule
        if self._factor > 0:
            delay = self.real_start + (t - self.env_start) * self._factor - monotonic()
            if delay > 0:
                select.select([] if self.wake_fd is None else [self.wake_fd], [], [], delay)
        Environment.step(self)


def _factor(speed: float) -> float:
    """Wall seconds per simulated millisecond."""
    if speed < 0:
        raise ValueError(f"speed {speed}: allowed 0 (as fast as possible) or more (simulated s per wall s)")
    return 0.0 if speed == 0 else 0.001 / speed
