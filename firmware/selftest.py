"""The power-on self-test: is the pump's hardware what the firmware believes it is?

Three checks, each giving (name, ok, detail) for the operator and the journal:

- pins: the board file names every pin its MCU's HAL drives (`Board.required_pins`: on the
  Pico the PIO budget gate's `step_gate`, on the ESP32 the counter's `step_sense` and
  `dir_sense`), and every pin it names is a GPIO number, no two the same. Boot runs this check
  before the HAL claims any pin (firmware/main.py), so a wrong board file stops the boot with
  every problem named at once instead of the first pin the HAL happens to look up;
- force_sensor: the load cell's converter is alive, its sample count rises while we wait;
- step_counter: a short dry move forward and back, with no syringe loaded, is seen by the
  independent STEP-line counter step for step. With a syringe in place the move is refused,
  because a self-test must never push fluid.

    results = run_selftest(controller)
    [("pins", True, "8 pins, all distinct"), ("force_sensor", True, "3 conversions in 500 ms"),
     ("step_counter", True, "counted +32 and -32 of 32 steps each way")]

On a board the waits sleep and feed the watchdog; a test (or the virtual board) passes its own
`wait_ms` that moves simulated time instead.
"""

from firmware.board import MAX_GPIO
from firmware.compat import const
from firmware.controller import IDLE

DRY_MOVE_STEPS = const(32)
DRY_MOVE_PERIOD_US = const(2000)  # 500 steps/s: 64 ms each way
FORCE_WAIT_MS = const(500)  # five conversions at the HX711's slow 10 samples/s
FORCE_MIN_NEW_SAMPLES = const(2)
WAIT_STEP_MS = const(10)


def _board_wait(hal):
    import time

    def wait_ms(ms: int) -> None:
        hal.watchdog.feed()
        if hasattr(time, "sleep_ms"):
            time.sleep_ms(ms)  # type: ignore[attr-defined]  # MicroPython
        else:
            time.sleep(ms / 1000)

    return wait_ms


def check_pins(board) -> tuple:
    """The board definition's pins: the required ones present, every one a distinct GPIO."""
    required = board.required_pins
    if not required:
        return ("pins", True, "%s board: no pins to check" % board.mcu)
    pins = board.pins
    problems = []
    for name in required:
        if name not in pins:
            problems.append("%s missing" % name)
    seen = {}
    for name in sorted(pins):
        gpio = pins[name]
        if not isinstance(gpio, int) or isinstance(gpio, bool) or not 0 <= gpio <= MAX_GPIO:
            problems.append("%s is %r, not a GPIO number 0..%d" % (name, gpio, MAX_GPIO))
        elif gpio in seen:
            problems.append("%s and %s both on GPIO %d" % (seen[gpio], name, gpio))
        else:
            seen[gpio] = name
    if problems:
        return ("pins", False, "; ".join(problems) + " (fix boards/%s/board.json)" % board.name)
    return ("pins", True, "%d pins, all distinct, the %d required present" % (len(pins), len(required)))


def check_force(force, wait_ms) -> tuple:
    first = force.samples()
    waited = 0
    while force.samples() - first < FORCE_MIN_NEW_SAMPLES and waited < FORCE_WAIT_MS:
        wait_ms(WAIT_STEP_MS)
        waited += WAIT_STEP_MS
    new = force.samples() - first
    if new < FORCE_MIN_NEW_SAMPLES:
        return ("force_sensor", False, "%d conversions in %d ms, expected at least %d: check the HX711 wiring and power" % (new, waited, FORCE_MIN_NEW_SAMPLES))
    return ("force_sensor", True, "%d conversions in %d ms, raw %d" % (new, waited, force.raw()))


def _move_and_count(hal, steps: int, wait_ms) -> int:
    before = hal.counter.count()
    left = steps - hal.stepper.move(steps, DRY_MOVE_PERIOD_US)
    limit_ms = (DRY_MOVE_STEPS * DRY_MOVE_PERIOD_US) // 1000 * 2 + 100
    waited = 0
    while (left != 0 or hal.stepper.pending() != 0) and waited < limit_ms:
        wait_ms(WAIT_STEP_MS)
        waited += WAIT_STEP_MS
        if left != 0:
            left -= hal.stepper.move(left, DRY_MOVE_PERIOD_US)  # a generator that takes one train at a time
    wait_ms(WAIT_STEP_MS)  # a runaway would show here
    return hal.counter.count() - before


def check_step_counter(controller, wait_ms) -> tuple:
    hal = controller.hal
    if controller.state != IDLE:
        return ("step_counter", False, "pump is %s: the self-test moves the plunger only when idle" % controller.state_name())
    if hal.switches.syringe_present():
        return ("step_counter", False, "a syringe is loaded: remove it, the dry move must not push fluid")
    hal.stepper.enable(True)
    try:
        forward = _move_and_count(hal, DRY_MOVE_STEPS, wait_ms)
        back = _move_and_count(hal, -DRY_MOVE_STEPS, wait_ms)
    finally:
        hal.stepper.enable(False)
        hal.stepper.halt()
    ok = forward == DRY_MOVE_STEPS and back == -DRY_MOVE_STEPS
    detail = "counted %+d and %+d of %d steps each way" % (forward, back, DRY_MOVE_STEPS)
    if not ok:
        detail += ": the generator and the STEP-line counter disagree; check the STEP and DIR wiring"
    return ("step_counter", ok, detail)


def run_selftest(controller, wait_ms=None) -> list:
    """Run every check; returns [(check_name, ok, detail), ...] in a fixed order."""
    wait = wait_ms if wait_ms is not None else _board_wait(controller.hal)
    return [
        check_pins(controller.board),
        check_force(controller.hal.force, wait),
        check_step_counter(controller, wait),
    ]
