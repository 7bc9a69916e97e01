"""Alarm codes. An alarm stops the motor through the driver's enable pin and stays latched
until the operator acknowledges it; some alarms forbid resuming the same infusion at all.
"""

from firmware.compat import const

DOSE_OVERRUN = const(1)  # independent counter saw more steps than the program allows
SYRINGE_REMOVED = const(2)
PLUNGER_DISENGAGED = const(3)
SYRINGE_EMPTY = const(4)
OCCLUSION = const(5)
FORCE_SENSOR = const(6)
STEP_MISMATCH = const(7)  # commanded and counted steps disagree (stall, step loss)
VITALS = const(8)
WATCHDOG_RESET = const(9)
POWER_LOSS = const(10)
RATE_LIMIT = const(11)

NAMES = {
    DOSE_OVERRUN: "DOSE_OVERRUN",
    SYRINGE_REMOVED: "SYRINGE_REMOVED",
    PLUNGER_DISENGAGED: "PLUNGER_DISENGAGED",
    SYRINGE_EMPTY: "SYRINGE_EMPTY",
    OCCLUSION: "OCCLUSION",
    FORCE_SENSOR: "FORCE_SENSOR",
    STEP_MISMATCH: "STEP_MISMATCH",
    VITALS: "VITALS",
    WATCHDOG_RESET: "WATCHDOG_RESET",
    POWER_LOSS: "POWER_LOSS",
    RATE_LIMIT: "RATE_LIMIT",
}

# Warnings: reported, not latched, the motor keeps going.
NEAR_END = const(101)  # the infusion ends within the configured minutes
# 102 was VITALS_STALE (one warning for the whole monitor); each kind of reading now has its own.
BACKOFF_DONE = const(103)  # pressure relieved after an occlusion alarm
BP_STALE = const(104)  # no new cuff reading past its interval: a failed or detached cuff
HR_STALE = const(105)  # heart rate reported before and has gone quiet
SPO2_STALE = const(106)  # SpO2 reported before and has gone quiet

NAMES[NEAR_END] = "NEAR_END"
NAMES[BACKOFF_DONE] = "BACKOFF_DONE"
NAMES[BP_STALE] = "BP_STALE"
NAMES[HR_STALE] = "HR_STALE"
NAMES[SPO2_STALE] = "SPO2_STALE"

# After these the infusion cannot be resumed; the operator must start again.
FINAL = (DOSE_OVERRUN, STEP_MISMATCH, RATE_LIMIT)


def name(code: int) -> str:
    return NAMES.get(code, "ALARM_%d" % code)
