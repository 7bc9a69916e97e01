"""A fixed-size ring of recent events (state changes, alarms), filled by the control loop.

The loop must not allocate, so events are three small integers written into lists made at
start-up; the protocol and the journal drain them outside the loop. If nobody drains for a
long time the oldest are overwritten and `lost` says how many.
"""

from firmware.compat import const

STATE = const(1)  # value: new state
ALARM = const(2)  # value: alarm code
ACK = const(3)  # value: alarm code acknowledged
WARNING = const(4)  # value: warning code

KIND_NAMES = {STATE: "state", ALARM: "alarm", ACK: "ack", WARNING: "warning"}
RING_SIZE = 64  # events kept between two drains (one control tick raises a few at most)


class EventRing:
    def __init__(self, size: int = RING_SIZE) -> None:
        self._kind = [0] * size
        self._value = [0] * size
        self._t_ms = [0] * size
        self._size = size
        self._head = 0  # next write
        self._count = 0
        self.lost = 0

    def push(self, kind: int, value: int, t_ms: int) -> None:
        i = self._head
        self._kind[i] = kind
        self._value[i] = value
        self._t_ms[i] = t_ms
        self._head = (i + 1) % self._size
        if self._count < self._size:
            self._count += 1
        else:
            self.lost += 1

    def __len__(self) -> int:
        return self._count

    def pop(self) -> tuple:
        """Oldest event as (kind, value, t_ms); allocates a tuple, so not for the control loop."""
        if self._count == 0:
            raise IndexError("no events")
        i = (self._head - self._count) % self._size
        self._count -= 1
        return self._kind[i], self._value[i], self._t_ms[i]
