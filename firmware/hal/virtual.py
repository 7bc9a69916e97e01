"""The virtual board's hardware: a clock the simulator sets, a step generator that emits steps
as simulated time passes, and a STEP-line counter that sees only what was really emitted.

Used in-process by the tests and the simulator, and inside the MicroPython virtual board,
where the sim bus moves the clock and carries sensor readings. Every method the control loop
calls is allocation-free so the loop can be checked under `micropython.heap_lock()`.
Like the Pico's PIO design, the STEP line passes a hardware budget gate: the generator cannot
emit more forward steps than it was given with move(), whatever goes wrong inside it.
Faults are injected here: a runaway generator (bursting ahead of its schedule, or past the gate
when the gate itself has failed), a stalled motor, a silent
force sensor, switches changed by the scenario.
"""

from firmware import ticks
from firmware.hal import Hal
from firmware.link_budget import LINK_BUFFER_BYTES


class VirtualClock:
    """Milliseconds that wrap on the boards' 2**30 period; starts wherever a test wants."""

    def __init__(self, start_ms: int = 0) -> None:
        self.t_ms = start_ms & (ticks.PERIOD_MS - 1)
        self.elapsed_ms = 0  # unwrapped, for the simulator's bookkeeping

    def now_ms(self) -> int:
        return self.t_ms

    def diff_ms(self, a_ms: int, b_ms: int) -> int:
        return ticks.ticks_diff(a_ms, b_ms)

    def advance(self, delta_ms: int) -> None:
        self.t_ms = ticks.ticks_add(self.t_ms, delta_ms)
        self.elapsed_ms += delta_ms


class VirtualStepper:
    """Emits queued steps at their period as the clock advances; `position` is the STEP line."""

    def __init__(self) -> None:
        self.enabled = False
        self.position = 0  # net steps emitted on the STEP line
        self._remaining = 0  # signed steps still queued
        self._period_us = 1000
        self._due_us = 0  # time of the next step, in unwrapped us
        self._now_us = 0
        self.runaway_steps = 0  # fault injection: a broken generator bursts this many steps at once...
        self.gate_failed = False  # ...and only with the budget gate failed can they pass the budget
        self.stalled = False  # fault injection: the motor stalls (no steps reach the STEP line)

    def enable(self, on: bool) -> None:
        self.enabled = on

    def move(self, steps: int, period_us: int) -> int:
        if steps == 0:
            return 0
        if self._remaining == 0:
            self._due_us = self._now_us + period_us
        self._remaining += steps
        self._period_us = period_us if period_us > 0 else 1
        return steps

    def halt(self) -> None:
        self._remaining = 0

    def pending(self) -> int:
        return self._remaining

    def run_until(self, now_us: int) -> None:
        """Emit every step due up to now_us (called by the virtual board as time passes)."""
        self._now_us = now_us
        if self.runaway_steps > 0 and self.enabled:
            # Faster than any control tick can watch: the budget gate is what bounds it.
            burst = self.runaway_steps
            if not self.gate_failed:
                budget = self._remaining if self._remaining > 0 else 0
                burst = burst if burst < budget else budget
                self._remaining -= burst
            self.position += burst
            self.runaway_steps = 0
        if self._remaining == 0 or not self.enabled or now_us < self._due_us or self.stalled:
            return
        n = (now_us - self._due_us) // self._period_us + 1
        left = self._remaining if self._remaining > 0 else -self._remaining
        if n > left:
            n = left
        self._due_us += n * self._period_us
        if self._remaining > 0:
            self._remaining -= n
            self.position += n
        else:
            self._remaining += n
            self.position -= n


class VirtualCounter:
    """Counts the STEP line (the stepper's emitted position), not what the stepper was told."""

    def __init__(self, stepper: VirtualStepper) -> None:
        self._stepper = stepper
        self.offset = 0  # fault injection: a counter that has lost pulses

    def count(self) -> int:
        return self._stepper.position + self.offset


class VirtualForce:
    def __init__(self) -> None:
        self.raw_counts = 0
        self.sample_count = 0

    def raw(self) -> int:
        return self.raw_counts

    def samples(self) -> int:
        return self.sample_count

    def set(self, raw_counts: int) -> None:
        """A new conversion arrives (the plant or a test calls this)."""
        self.raw_counts = raw_counts
        self.sample_count += 1

    def update(self, raw_counts: int, sample_count: int) -> None:
        """The sim bus reports the sensor's latest conversion and how many there have been."""
        self.raw_counts = raw_counts
        self.sample_count = sample_count


class VirtualSwitches:
    SYRINGE = 1
    PLUNGER = 2
    END_STOP = 4

    def __init__(self) -> None:
        self.syringe = True
        self.plunger = True
        self.end_stop = False

    def set_bits(self, bits: int) -> None:
        self.syringe = bool(bits & self.SYRINGE)
        self.plunger = bool(bits & self.PLUNGER)
        self.end_stop = bool(bits & self.END_STOP)

    def syringe_present(self) -> bool:
        return self.syringe

    def plunger_engaged(self) -> bool:
        return self.plunger

    def at_end_stop(self) -> bool:
        return self.end_stop


class MemoryStorage:
    """Files in RAM; `files` can be copied to simulate flash surviving a reset."""

    def __init__(self, files=None) -> None:
        self.files = files if files is not None else {}

    def read(self, name: str) -> bytes:
        return self.files.get(name, b"")

    def append(self, name: str, data: bytes) -> None:
        self.files[name] = self.files.get(name, b"") + data

    def replace(self, name: str, data: bytes) -> None:
        self.files[name] = bytes(data)


class VirtualWatchdog:
    """machine.WDT as the boards use it (firmware/hal/machine_io.py MachineWatchdog): started by
    the first feed, never stopped; `expired` turns true once simulated time passes timeout_ms
    without a feed (the real one resets the board there). `feed_from_timer()` stands for the
    machine.Timer that feeds it during maintenance: every timeout_ms // 4 of simulated time,
    as a periodic soft timer fires."""

    def __init__(self, timeout_ms: int = 8000) -> None:
        self.feeds = 0
        self.timeout_ms = timeout_ms
        self.started = False
        self.expired = False
        self.timer_period_ms = 0  # 0: no timer feeds it
        self._since_feed_ms = 0
        self._timer_due_ms = 0

    def feed(self) -> None:
        self.feeds += 1
        self.started = True
        self._since_feed_ms = 0

    def feed_from_timer(self) -> None:
        self.feed()
        if not self.timer_period_ms:
            self.timer_period_ms = max(1, self.timeout_ms // 4)
            self._timer_due_ms = self.timer_period_ms

    def advance(self, delta_ms: int) -> None:
        """Simulated time passes (allocation-free)."""
        if not self.started:
            return
        if self.timer_period_ms:
            self._timer_due_ms -= delta_ms
            while self._timer_due_ms <= 0:
                self._timer_due_ms += self.timer_period_ms
                self.feeds += 1
                self._since_feed_ms = -self._timer_due_ms
        else:
            self._since_feed_ms += delta_ms
        if self._since_feed_ms > self.timeout_ms:
            self.expired = True


class VirtualLink:
    """The virtual board's serial port, modelled on MicroPython's UART (ports/rp2/machine_uart.c,
    v1.21): bytes received wait in a buffer of LINK_BUFFER_BYTES; a byte that arrives while it is
    full is lost (the driver's interrupt ignores a full ring buffer) and counted in `overrun`;
    read() never waits and returns at most what is there. A sender that can wait instead (USB
    CDC's flow control, a pty relay) sends only room() bytes, or keeps what receive() did not
    take. `tx` collects what the firmware wrote."""

    def __init__(self, capacity: int = LINK_BUFFER_BYTES) -> None:
        self.capacity = capacity
        self.rx = bytearray()
        self._head = 0  # rx[:_head] is already read
        self.overrun = 0
        self.tx = bytearray()

    def room(self) -> int:
        free = self.capacity - (len(self.rx) - self._head)
        return free if free > 0 else 0

    def receive(self, data) -> int:
        """Bytes arriving on the wire: as many as fit are kept; returns how many."""
        n = self.room()
        if n >= len(data):
            n = len(data)
        else:
            self.overrun += len(data) - n
        if self._head:
            self.rx = self.rx[self._head:]
            self._head = 0
        self.rx.extend(memoryview(data)[:n])
        return n

    def read(self, buf) -> int:
        n = len(self.rx) - self._head
        if n > len(buf):
            n = len(buf)
        if n <= 0:
            return 0
        buf[:n] = memoryview(self.rx)[self._head:self._head + n]
        self._head += n
        if self._head == len(self.rx):  # all read: start the buffer again
            self.rx = bytearray()
            self._head = 0
        return n

    def write(self, data: bytes) -> None:
        self.tx.extend(data)


class VirtualBoard:
    """All the virtual hardware, plus `advance()` to move simulated time."""

    def __init__(self, start_ms: int = 0, storage=None) -> None:
        # Without a plant the load cell reads a steady friction force with a little noise at
        # 80 samples/s; the sim bus turns this off and reports the plant's sensor instead.
        self.auto_force = True
        self.force_counts = 12600  # 3 N at 4200 counts/N
        self._noise = 12345
        self._next_sample_ms = 0
        self.clock = VirtualClock(start_ms)
        self.stepper = VirtualStepper()
        self.counter = VirtualCounter(self.stepper)
        self.force = VirtualForce()
        self.switches = VirtualSwitches()
        self.storage = storage if storage is not None else MemoryStorage()
        self.watchdog = VirtualWatchdog()
        self.link = VirtualLink()
        self.hal = Hal(self.clock, self.stepper, self.counter, self.force, self.switches, self.storage, self.watchdog, self.link)
        self.hal.wait_ms = self.wait_ms  # type: ignore[attr-defined]  # used by the self-test

    def wait_ms(self, ms: int) -> None:
        """Time passing while the firmware blocks (the self-test): the clock and the generator
        move on, and the load cell keeps converting at its last value."""
        self.advance(ms)
        if not self.auto_force:
            self.force.update(self.force.raw_counts, self.force.sample_count + ms * 80 // 1000 + 1)

    def advance(self, delta_ms: int) -> None:
        self.clock.advance(delta_ms)
        self.stepper.run_until(self.clock.elapsed_ms * 1000)
        self.watchdog.advance(delta_ms)
        if self.auto_force:
            while self._next_sample_ms <= self.clock.elapsed_ms:
                self._next_sample_ms += 12  # 80 samples/s, near enough
                self._noise = (1103515245 * self._noise + 12345) & 0x7FFFFFFF
                self.force.set(self.force_counts + (self._noise >> 16) % 41 - 20)


def build(board) -> Hal:
    """HAL factory named by boards/VIRTUAL/board.json (every HAL module has one)."""
    return VirtualBoard().hal
