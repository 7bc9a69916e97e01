"""The hardware seam: everything the controller may touch, and nothing else.

Each board provides these objects (RP2040: PIO step generator and PIO step counter, HX711,
machine.WDT; ESP32: RMT and PCNT; the virtual board: `firmware.hal.virtual`). The controller
receives them through its constructor, so the same controller runs against a real board, the
simulator or a test's fakes. The base classes document the contract; a board's objects need
not inherit from them.
"""


class Clock:
    def now_ms(self) -> int:
        raise NotImplementedError

    def diff_ms(self, a_ms: int, b_ms: int) -> int:
        """a - b, wrap-around safe (time.ticks_diff semantics)."""
        raise NotImplementedError


class Stepper:
    """The step generator (PIO, RMT). It moves the plunger; it is not trusted to count."""

    def enable(self, on: bool) -> None:
        """Drive the driver's EN pin: off means the motor cannot move whatever is queued."""
        raise NotImplementedError

    def move(self, steps: int, period_us: int) -> int:
        """Queue up to `steps` microsteps (negative: backwards) spaced `period_us` apart; return
        the signed number taken. A generator that cannot queue (the ESP32's RMT) takes what
        fits in one train, or nothing while a train plays; the caller asks again for the rest
        (the motion plan does, every tick), so no train ever grows with a backlog."""
        raise NotImplementedError

    def halt(self) -> None:
        """Drop everything queued. The caller drops EN first: the driver's enable is the
        safety cut, the generator stop comes second (a train in flight may play out)."""
        raise NotImplementedError

    def pending(self) -> int:
        raise NotImplementedError


class StepCounter:
    """An independent counter on the STEP line (second PIO state machine, PCNT)."""

    def count(self) -> int:
        """Net microsteps seen on the STEP line, signed by DIR."""
        raise NotImplementedError


class ForceSensor:
    """Plunger force load cell behind an HX711."""

    def raw(self) -> int:
        """Latest raw 24-bit reading, signed."""
        raise NotImplementedError

    def samples(self) -> int:
        """Number of conversions so far; stops rising when the sensor falls silent."""
        raise NotImplementedError


class Switches:
    def syringe_present(self) -> bool:
        raise NotImplementedError

    def plunger_engaged(self) -> bool:
        raise NotImplementedError

    def at_end_stop(self) -> bool:
        """The plunger has reached the empty end of the syringe."""
        raise NotImplementedError


class Storage:
    """Non-volatile files (littlefs on boards, a folder or RAM on the virtual board)."""

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def append(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def replace(self, name: str, data: bytes) -> None:
        raise NotImplementedError


class Watchdog:
    def feed(self) -> None:
        raise NotImplementedError


class Link:
    """The operator's serial link (USB CDC, UART or a pty)."""

    def read(self, buf) -> int:
        """Copy waiting bytes into buf; return how many (0 when none). Never blocks."""
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError


class Hal:
    """The set of hardware objects a controller is built with."""

    def __init__(self, clock, stepper, counter, force, switches, storage, watchdog, link) -> None:
        self.clock = clock
        self.stepper = stepper
        self.counter = counter
        self.force = force
        self.switches = switches
        self.storage = storage
        self.watchdog = watchdog
        self.link = link
