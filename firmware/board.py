"""A board definition: `boards/<NAME>/board.json`, validated at boot.

The same schema describes the Pico, the ESP32 DevKitC and the virtual board: MCU, HAL module,
drive train (driver, steps, microsteps, lead-screw pitch), force sensor calibration, control
tick, watchdog and link. A missing or out-of-range key stops the boot with a message naming it,
because a wrong pitch or microstep setting is a silent dose error.
"""

from firmware.datafile import FIRMWARE_DIR, load_json
from firmware.errors import BAD_BOARD, Rejected

DRIVERS = ("A4988", "DRV8825", "TMC2209")

# The pins each MCU's HAL drives (firmware/hal/rp2.py, firmware/hal/esp32.py): the common ones,
# and how each counts the STEP line independently of the generator: the RP2040's PIO budget
# gate on its own pin, the ESP32's PCNT on separate STEP and DIR sense pins. The virtual board
# has none.
COMMON_PINS = ("step", "dir", "enable", "hx711_data", "hx711_clock", "syringe_present", "plunger_engaged",
               "end_stop_empty")
MAX_GPIO = 48  # the highest GPIO number of the supported MCUs (ESP32)
MCU_PINS = {"rp2040": COMMON_PINS + ("step_gate",), "esp32": COMMON_PINS + ("step_sense", "dir_sense"), "virtual": ()}

# key path -> (min, max) for every integer the firmware relies on.
_INT_RANGES = (
    ("drive.full_steps_per_rev", 24, 400),
    ("drive.microsteps", 1, 256),
    ("drive.lead_pitch_um", 100, 10000),
    ("drive.step_pulse_min_ns", 1, 100000),
    ("drive.max_step_rate_hz", 1, 100000),
    ("drive.dir_forward_level", 0, 1),
    ("drive.enable_active_level", 0, 1),
    ("switches.active_level", 0, 1),
    ("force.gain_pulses", 25, 27),
    ("force.samples_per_s", 1, 1000),
    ("force.counts_per_n", 1, 10000000),
    ("force.max_force_mn", 1000, 2000000),
    ("control.tick_ms", 5, 1000),
    ("control.telemetry_ms", 100, 3600000),
    ("watchdog_ms", 100, 8300),
)


def _lookup(doc: dict, dotted: str):
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise Rejected(BAD_BOARD, dotted, "missing", "a value")
        node = node[part]
    return node


class DriveTrain:
    """Stepper + lead screw: how many microsteps move the plunger one lead-screw pitch."""

    def __init__(self, full_steps_per_rev: int, microsteps: int, lead_pitch_um: int, max_step_rate_hz: int = 5000) -> None:
        self.usteps_per_rev = full_steps_per_rev * microsteps
        self.lead_pitch_um = lead_pitch_um
        self.max_step_rate_hz = max_step_rate_hz


class Board:
    def __init__(self, doc: dict) -> None:
        for key in ("name", "mcu", "hal"):
            if not isinstance(_lookup(doc, key), str):
                raise Rejected(BAD_BOARD, key, _lookup(doc, key), "a string")
        for key, lo, hi in _INT_RANGES:
            v = _lookup(doc, key)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise Rejected(BAD_BOARD, key, v, "%d..%d" % (lo, hi))
        driver = _lookup(doc, "drive.driver")
        if driver not in DRIVERS:
            raise Rejected(BAD_BOARD, "drive.driver", driver, ",".join(DRIVERS))
        self.doc = doc
        self.name = doc["name"]
        self.mcu = doc["mcu"]
        self.hal_module = doc["hal"]
        d = doc["drive"]
        self.drive = DriveTrain(d["full_steps_per_rev"], d["microsteps"], d["lead_pitch_um"], d["max_step_rate_hz"])
        self.tick_ms = doc["control"]["tick_ms"]
        self.telemetry_ms = doc["control"]["telemetry_ms"]
        self.watchdog_ms = doc["watchdog_ms"]
        self.force = doc["force"]
        self.pins = doc.get("pins", {})
        mcus = ",".join(sorted(MCU_PINS))
        if self.mcu not in MCU_PINS:
            raise Rejected(BAD_BOARD, "mcu", self.mcu, mcus)
        self.required_pins = MCU_PINS[self.mcu]  # what the power-on self-test checks first

    @classmethod
    def load(cls, name: str, boards_dir: str = "") -> "Board":
        root = boards_dir or (FIRMWARE_DIR + "/../boards")
        return cls(load_json(root + "/" + name + "/board.json"))
