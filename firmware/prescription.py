"""A prescription, checked against the drug library and turned into a delivery program.

What the operator enters: drug, profile, concentration, body weight, dose (mg/kg over a
duration) or rate (mg/kg/h for a duration), and the syringe loaded. `validate()` either
returns a complete `Program` or raises `Rejected`; it changes nothing, so a refused entry
can never leave a half-applied program behind. Entries outside a soft limit come back with
`soft_fields` set: the controller holds them until the operator confirms those fields by name.

The daily maximum belongs to a patient: the drug given in the last 24 h is divided by the
weight of the patient it was given to (`patient_g`, as first recorded), never by a weight
entered later. Another weight within those 24 h is refused (PATIENT_MISMATCH, naming both)
until the operator re-identifies the patient; 150 kg cannot make room for 70 kg's dose.
"""

from firmware import dosing
from firmware.errors import (
    BAD_VALUE,
    CUMULATIVE_LIMIT,
    HARD_LIMIT,
    MISSING_FIELD,
    PATIENT_MISMATCH,
    RATE_EXCEEDS_DRIVE,
    VOLUME_EXCEEDS_SYRINGE,
    VOLUME_TOO_SMALL,
    Rejected,
)
from firmware.library import DOSE_OVER_DURATION

COMMON_FIELDS = ("drug", "profile", "conc_ug_ml", "weight_g", "duration_min", "syringe")
TEXT_FIELDS = ("drug", "profile", "syringe")


class Program:
    """A validated prescription and everything computed from it (integer units)."""

    def __init__(self) -> None:
        self.drug = ""
        self.profile = ""
        self.mode = ""
        self.syringe_id = ""
        self.inner_diameter_um = 0
        self.conc_ug_ml = 0
        self.weight_g = 0
        self.dose_ug_kg = 0
        self.rate_ug_kg_h = 0
        self.duration_min = 0
        self.duration_ms = 0
        self.total_ug = 0
        self.volume_nl = 0
        self.total_steps = 0
        self.rate_nl_h = 0
        self.soft_fields = ()

    def entered(self) -> dict:
        """The prescription as entered (for logs and summaries)."""
        d = {"drug": self.drug, "profile": self.profile, "conc_ug_ml": self.conc_ug_ml, "weight_g": self.weight_g,
             "duration_min": self.duration_min, "syringe": self.syringe_id}
        if self.mode == DOSE_OVER_DURATION:
            d["dose_ug_kg"] = self.dose_ug_kg
        else:
            d["rate_ug_kg_h"] = self.rate_ug_kg_h
        return d


def _required_fields(mode: str) -> tuple:
    return COMMON_FIELDS + (("dose_ug_kg",) if mode == DOSE_OVER_DURATION else ("rate_ug_kg_h",))


def _int_field(fields: dict, name: str) -> int:
    v = fields.get(name)
    if v is None:
        raise Rejected(MISSING_FIELD, name, "", "required")
    if not isinstance(v, int) or isinstance(v, bool):
        raise Rejected(BAD_VALUE, name, v, "an integer")
    return v


def _text_field(fields: dict, name: str) -> str:
    v = fields.get(name)
    if v is None or v == "":
        raise Rejected(MISSING_FIELD, name, "", "required")
    if not isinstance(v, str):
        raise Rejected(BAD_VALUE, name, v, "text")
    return v


def _check_hard(limit, field: str, value: int) -> None:
    if limit is not None and not limit.within_hard(value):
        raise Rejected(HARD_LIMIT, field, value, limit.hard_text())


def _soft_breaches(checks: tuple) -> tuple:
    out = []
    for limit, field, value in checks:
        if limit is not None and not limit.within_soft(value):
            out.append(field)
    return tuple(out)


def validate(fields: dict, library, syringes, drive, prior_ug_24h: int = 0, patient_g=None) -> Program:
    """Check a prescription and compute its program; raise Rejected on the first problem.
    prior_ug_24h was given in the last 24 h to the patient of weight patient_g (None: nobody)."""
    for name in TEXT_FIELDS:
        _text_field(fields, name)
    profile = library.profile(fields["drug"], fields["profile"])
    required = _required_fields(profile.mode)
    for name in fields:
        if name not in required:
            # A stray or misspelt key must not be silently ignored (e.g. rate given to a dose profile).
            raise Rejected(BAD_VALUE, name, fields[name], ",".join(required))
    ints = {}
    for name in required:
        if name not in TEXT_FIELDS:
            ints[name] = _int_field(fields, name)
    profile.check_concentration(ints["conc_ug_ml"])
    syringe = syringes.get(fields["syringe"])

    weight_g = ints["weight_g"]
    duration_min = ints["duration_min"]
    dose_ug_kg = ints.get("dose_ug_kg", 0)
    rate_ug_kg_h = ints.get("rate_ug_kg_h", 0)
    _check_hard(library.weight_g, "weight_g", weight_g)
    if patient_g is not None and weight_g != patient_g:
        raise Rejected(PATIENT_MISMATCH, "weight_g", weight_g, str(patient_g))
    if profile.mode == DOSE_OVER_DURATION:
        _check_hard(profile.limit("dose_ug_kg"), "dose_ug_kg", dose_ug_kg)
    else:
        _check_hard(profile.limit("rate_ug_kg_h"), "rate_ug_kg_h", rate_ug_kg_h)
    _check_hard(profile.limit("duration_min"), "duration_min", duration_min)

    dose = dosing.dose_ug(profile.mode, weight_g, dose_ug_kg, rate_ug_kg_h, duration_min)
    _check_derived_rate(profile, dose_ug_kg, duration_min)
    _check_cumulative(profile, dose, weight_g, prior_ug_24h)
    volume = dosing.volume_nl(dose, ints["conc_ug_ml"])
    volume_nl = dosing.round_div(volume[0], volume[1])
    if volume_nl > syringe.capacity_ul * 1000:
        raise Rejected(VOLUME_EXCEEDS_SYRINGE, "volume_nl", volume_nl, "0..%d" % (syringe.capacity_ul * 1000))
    steps = dosing.total_steps(volume, syringe.inner_diameter_um, drive)
    if steps < 1:
        raise Rejected(VOLUME_TOO_SMALL, "volume_nl", volume_nl, "at least one microstep")
    if steps > drive.max_step_rate_hz * duration_min * 60:
        raise Rejected(RATE_EXCEEDS_DRIVE, "duration_min", duration_min, "long enough for %d steps/s" % drive.max_step_rate_hz)

    p = Program()
    p.drug = profile.drug
    p.profile = profile.name
    p.mode = profile.mode
    p.syringe_id = syringe.id
    p.inner_diameter_um = syringe.inner_diameter_um
    p.conc_ug_ml = ints["conc_ug_ml"]
    p.weight_g = weight_g
    p.dose_ug_kg = dose_ug_kg
    p.rate_ug_kg_h = rate_ug_kg_h
    p.duration_min = duration_min
    p.duration_ms = duration_min * dosing.MS_PER_MIN
    p.total_ug = dosing.round_div(dose[0], dose[1])
    p.volume_nl = volume_nl
    p.total_steps = steps
    p.rate_nl_h = dosing.rate_nl_h(volume, duration_min)
    p.soft_fields = _soft_breaches((
        (library.weight_g, "weight_g", weight_g),
        (profile.limit("dose_ug_kg") if profile.mode == DOSE_OVER_DURATION else None, "dose_ug_kg", dose_ug_kg),
        (profile.limit("rate_ug_kg_h") if profile.mode != DOSE_OVER_DURATION else None, "rate_ug_kg_h", rate_ug_kg_h),
        (profile.limit("duration_min"), "duration_min", duration_min),
    ))
    return p


def _check_derived_rate(profile, dose_ug_kg: int, duration_min: int) -> None:
    """A dose over a duration implies a rate; it must respect the profile's hard rate limit."""
    limit = profile.limit("rate_ug_kg_h")
    if profile.mode != DOSE_OVER_DURATION or limit is None:
        return
    # rate = dose * 60 / duration, compared without division
    if dose_ug_kg * 60 > limit.hard_max * duration_min:
        raise Rejected(HARD_LIMIT, "rate_ug_kg_h", dosing.round_div(dose_ug_kg * 60, duration_min), limit.hard_text())


def _check_cumulative(profile, dose: tuple, weight_g: int, prior_ug_24h: int) -> None:
    """This infusion plus what was given in the last 24 h, against the per-kg daily maximum."""
    limit = profile.limit("cumulative_ug_kg_24h")
    if limit is None:
        return
    num, den = dose
    # (prior + num/den) ug / (weight_g / 1000) kg <= max ug/kg
    if (prior_ug_24h * den + num) * 1000 > limit.hard_max * weight_g * den:
        total = dosing.round_div((prior_ug_24h * den + num) * 1000, den * weight_g)
        raise Rejected(CUMULATIVE_LIMIT, "cumulative_ug_kg_24h", total, limit.hard_text())
