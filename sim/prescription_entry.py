"""From a scenario's prescription (mg, mg/mL, kg: as a clinician writes it) to the pump's integer fields.

Conversions are exact: 0.5 mg/kg is 500 ug/kg; a value that is not a whole number of the pump's
unit (0.0005 mg/kg) is an error, not a rounding. The prescribed volume is also computed here, in
floating point, independently of the firmware's integer arithmetic, so the simulator can check
the pump against it.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any


class EntryError(ValueError):
    pass


def _exact(value: float | int, scale: int, key: str) -> int:
    q = Fraction(str(value)) * scale
    if q.denominator != 1:
        raise EntryError(f"{key} = {value!r}: not a whole number of the pump's unit (1/{scale} of it)")
    return int(q)


def pump_fields(rx: dict[str, Any], weight_kg: float) -> dict[str, Any]:
    """The PROGRAM command's fields for a scenario's [prescription] section."""
    fields: dict[str, Any] = {
        "drug": rx["drug"],
        "profile": rx["profile"],
        "conc_ug_ml": _exact(rx["concentration_mg_ml"], 1000, "prescription.concentration_mg_ml"),
        "weight_g": _exact(rx["weight_kg"], 1000, "prescription.weight_kg") if rx.get("weight_kg") is not None
        else _exact(weight_kg, 1000, "patient.weight_kg"),
        "duration_min": rx["duration_min"],
        "syringe": rx["syringe"],
    }
    if rx.get("dose_mg_kg") is not None:
        fields["dose_ug_kg"] = _exact(rx["dose_mg_kg"], 1000, "prescription.dose_mg_kg")
    else:
        fields["rate_ug_kg_h"] = _exact(rx["dose_mg_kg_h"], 1000, "prescription.dose_mg_kg_h")
    return fields


def prescribed_dose_mg(rx: dict[str, Any], weight_kg: float) -> float:
    """What the prescription means for this patient, in mg (the patient's true weight)."""
    if rx.get("dose_mg_kg") is not None:
        return float(rx["dose_mg_kg"]) * weight_kg
    return float(rx["dose_mg_kg_h"]) * weight_kg * rx["duration_min"] / 60.0


def prescribed_volume_ml(rx: dict[str, Any], weight_kg: float) -> float:
    return prescribed_dose_mg(rx, weight_kg) / float(rx["concentration_mg_ml"])
