"""Rejections: what was wrong, the value, the allowed range.

A rejected prescription or command raises `Rejected`; the protocol turns it into an ERR line
with a machine-readable code, so a host can show the operator exactly which field to fix.
"""

# Machine-readable codes (stable: hosts and tests match on them).
HARD_LIMIT = "HARD_LIMIT"
SOFT_LIMIT = "SOFT_LIMIT"
UNKNOWN_DRUG = "UNKNOWN_DRUG"
UNKNOWN_PROFILE = "UNKNOWN_PROFILE"
UNKNOWN_CONCENTRATION = "UNKNOWN_CONCENTRATION"
UNKNOWN_SYRINGE = "UNKNOWN_SYRINGE"
MISSING_FIELD = "MISSING_FIELD"
BAD_VALUE = "BAD_VALUE"
VOLUME_EXCEEDS_SYRINGE = "VOLUME_EXCEEDS_SYRINGE"
VOLUME_TOO_SMALL = "VOLUME_TOO_SMALL"
RATE_EXCEEDS_DRIVE = "RATE_EXCEEDS_DRIVE"
CUMULATIVE_LIMIT = "CUMULATIVE_LIMIT"
BAD_STATE = "BAD_STATE"
CONFIRMATION_MISMATCH = "CONFIRMATION_MISMATCH"
BAD_BOARD = "BAD_BOARD"
NOT_READY = "NOT_READY"
SERVICE_REQUIRED = "SERVICE_REQUIRED"  # a test-only profile outside the SERVICE state
SERVICE_ACTIVE = "SERVICE_ACTIVE"  # a clinical profile while in SERVICE
VITALS_MISSING = "VITALS_MISSING"  # a reading the profile requires was never reported
VITALS_STALE = "VITALS_STALE"  # ... or its last one is older than the monitor's interval allows
VITALS_ABNORMAL = "VITALS_ABNORMAL"  # a fresh reading meets a pause criterion
PATIENT_MISMATCH = "PATIENT_MISMATCH"  # another weight than the patient dosed in the last 24 h


class Rejected(Exception):
    """A refused input. `allowed` is a human-readable range or list, e.g. "50..1000"."""

    def __init__(self, code: str, field: str, value: object, allowed: str) -> None:
        super().__init__(code, field, value, allowed)
        self.code = code
        self.field = field
        self.value = value
        self.allowed = allowed

    def __str__(self) -> str:
        return "%s: %s=%s (allowed %s)" % (self.code, self.field, self.value, self.allowed)
