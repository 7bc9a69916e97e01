"""The board process: one firmware tick every tick_ms, through a board backend.

Each tick the backend runs the firmware up to now with what the plant shows the board's pins
(load cell, switches) and the bytes the host sent on the command link; the plant is then
advanced to the STEP-line position the board counted, and what the board wrote goes back to
the host. The backend (`sim/board_backend.py`) is the only part that knows how a tick reaches
the firmware.

The board can lose its power (`power_cut`): while it is off no firmware runs, the motor holds
where it stopped, and bytes sent to it are lost; it then boots again from its flash, its STEP
counter at 0 (the plant is re-zeroed there, and `position_offset` keeps the counts of earlier
lives for reporting). Between sessions of a course (`idle`) the board is powered and ticks in
hour-long steps while the syringe is set aside.

The plant needs `force_raw`, `samples`, `switches`, `advance(dt_ms, position)` and
`rebase(position)` (and `idle(dt_ms)` for a course); the link needs `take_rx()` (bytes the
host sent since the last tick) and `put_tx(data)` (what the board wrote).
"""

from __future__ import annotations

from typing import Any

from simpy import Environment
from simpy.events import Event

from firmware.controller import RUNNING
from firmware.hal.simbus import SWITCH_PLUNGER, SWITCH_SYRINGE
from sim.board_backend import BoardBackend, BoardInputs, BoardOutputs
from sim.engine import BOARD, Wake, now_ms

IDLE_STEP_MS = 3600000  # between sessions the board ticks hourly: nothing moves, the journal ages


class BoardProcess:
    def __init__(self, env: Environment, backend: BoardBackend, plant: Any, link: Any, tick_ms: int) -> None:
        self.env = env
        self.backend = backend
        self.plant = plant
        self.link = link
        self.tick_ms = tick_ms
        self.outputs = BoardOutputs(0, False, 0)
        self.position_offset = 0  # STEP counts of the board's lives before the last power cut
        self.running_ms = 0  # time spent in RUNNING, over all lives
        self.powered = False
        self._off_until = 0
        self._back_on: Event | None = None
        self._idle_until = 0  # while idle between sessions: until when
        self._inputs = BoardInputs(0, 0, 0)  # refilled each tick
        backend.boot()
        self.powered = True
        self._arm(tick_ms)

    @property
    def steps(self) -> int:
        """STEP counts over all of the board's lives."""
        return self.position_offset + self.outputs.position

    def power_cut(self, off_ms: int) -> Event:
        """Cut the power now for off_ms; the event triggers when the board has booted again."""
        self.backend.power_cut()
        self.position_offset += self.outputs.position
        self.powered = False
        self._off_until = now_ms(self.env) + off_ms
        self._back_on = Event(self.env)
        return self._back_on

    def idle(self, duration_ms: int) -> None:
        """The syringe set aside for duration_ms (days between sessions): hourly ticks."""
        self._idle_until = now_ms(self.env) + duration_ms

    # The board wakes 36,000 times an hour: its wake-up is a bare event whose callback ticks and
    # arms the next one, which costs SimPy a third of what resuming a generator process does.
    def _arm(self, dt_ms: int) -> None:
        Wake(self.env, dt_ms, BOARD, self._wake)

    def _wake(self, event: Wake) -> None:
        dt = event.delay_ms
        if self._idle_until == 0 and self.powered:
            self._tick(dt)
            Wake(self.env, self.tick_ms, BOARD, self._wake)
            return
        now = now_ms(self.env)
        if not self.powered:
            self._unpowered(dt)
        elif now <= self._idle_until:
            self._idle_tick(dt)
        if now < self._idle_until:
            self._arm(min(IDLE_STEP_MS, self._idle_until - now))
        else:
            self._idle_until = 0
            self._arm(self.tick_ms)

    def _tick(self, dt_ms: int) -> None:
        plant, inputs = self.plant, self._inputs
        inputs.force_raw, inputs.force_samples, inputs.switches = plant.force_raw, plant.samples, plant.switches
        out, tx = self.backend.tick(dt_ms, inputs, self.link.take_rx())
        self.outputs = out
        if out.state == RUNNING:
            self.running_ms += dt_ms
        plant.advance(dt_ms, out.position)
        if tx:
            self.link.put_tx(tx)

    def _idle_tick(self, dt_ms: int) -> None:
        plant, inputs = self.plant, self._inputs
        inputs.force_raw, inputs.force_samples, inputs.switches = plant.force_raw, plant.samples, SWITCH_SYRINGE | SWITCH_PLUNGER
        out, tx = self.backend.tick(dt_ms, inputs, self.link.take_rx())
        self.outputs = out
        plant.idle(dt_ms)
        if tx:
            self.link.put_tx(tx)

    def _unpowered(self, dt_ms: int) -> None:
        self.link.take_rx()  # bytes sent to an unpowered board are lost
        self.plant.advance(dt_ms, self.plant.position)  # the motor holds where it stopped
        if self.env.now >= self._off_until:
            self.backend.boot()
            self.powered = True
            self.outputs = BoardOutputs(0, False, 0)
            self.plant.rebase(0)  # the new life's STEP counter starts at zero
            if self._back_on is not None:
                self._back_on.succeed()
                self._back_on = None
