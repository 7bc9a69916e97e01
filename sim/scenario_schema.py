"""The scenario schema: for every key a scenario may hold, its type, unit, allowed range or
choices, and why.

The table is data, in `sim/data/scenario_schema.toml`; this module reads it and checks one
value against one key. A value outside its key's type or range is refused with an error that
names the file, the key, the value, what is allowed and why, e.g.

    standard.toml: prescription.concentration_mg_ml = 0: allowed 0.001..1000 mg/mL (a solution ...)

Some lists of choices live with what they name (the board folders, the firmware's state and
alarm names, the PK parameter sets): the schema says `choices_from` and they are read from there,
so a new board or alarm code is allowed without editing the schema.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "scenario_schema.toml"
BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"
# What the simulated operator records when the pump did not refuse (sim/operator.py, sim/report.py).
OPERATOR_RESULTS = ("STARTED", "AWAITING_CONFIRMATION", "NOT_ENTERED")
# type -> (Python types, how the type is said in an error); bool is never a number.
TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "number": ((int, float), "a number"),
    "integer": ((int,), "an integer"),
    "boolean": ((bool,), "true or false"),
    "text": ((str,), "text"),
}


class ScenarioError(ValueError):
    """A scenario file or override that cannot be used, said in terms of the file and key."""


def _boards() -> tuple[str, ...]:
    return tuple(sorted(p.parent.name for p in BOARDS_DIR.glob("*/board.json")))


def _pk_models() -> tuple[str, ...]:
    from sim.pk import load_parameter_sets

    return tuple(load_parameter_sets())


def _states() -> tuple[str, ...]:
    from firmware.controller import STATE_NAMES

    return tuple(STATE_NAMES)


def _alarms() -> tuple[str, ...]:
    from firmware import alarms

    return tuple(sorted(alarms.NAMES.values()))


def _prescription_results() -> tuple[str, ...]:
    from firmware import errors

    codes = sorted(v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str))
    return (*OPERATOR_RESULTS, *codes)


def _force_sensor_faults() -> tuple[str, ...]:
    from sim.force_sensor import FAULTS

    return tuple(FAULTS)


CHOICES_FROM: dict[str, Callable[[], tuple[str, ...]]] = {
    "boards": _boards, "pk_models": _pk_models, "states": _states, "alarms": _alarms,
    "prescription_results": _prescription_results, "force_sensor_faults": _force_sensor_faults,
}


@dataclass(frozen=True)
class Field:
    """One key: `section.name`, its type and what values it allows."""

    key: str
    type: str
    why: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    max_from: str | None = None  # a bound that depends on other keys (checked in sim/scenario.py)
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    default: Any = None
    required: bool = False

    def allowed(self) -> str:
        """What the key allows, as an error says it."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        if self.pattern is not None:
            return f"text matching {self.pattern}"
        if self.min is not None or self.max is not None or self.max_from is not None:
            high = self.max if self.max_from is None else f"({self.max_from})"
            return f"{self.min}..{high}" + (f" {self.unit}" if self.unit else "")
        return TYPES[self.type][1]

    def check(self, value: Any, source: str, key: str | None = None) -> None:
        """Raise ScenarioError unless value has this key's type and lies in its range."""
        kinds, said = TYPES[self.type]
        is_bool = isinstance(value, bool)
        if not isinstance(value, kinds) or is_bool != (self.type == "boolean"):
            self.refuse(value, source, f"is not {said}", key)
        if self.min is not None and not value >= self.min or self.max is not None and not value <= self.max:
            self.refuse(value, source, "is out of range", key)
        if self.choices is not None and value not in self.choices:
            self.refuse(value, source, "is not allowed", key)
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            self.refuse(value, source, "is not allowed", key)

    def refuse(self, value: Any, source: str, problem: str, key: str | None = None, allowed: str | None = None) -> None:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ScenarioError(f"{source}: {key or self.key} = {shown} {problem}: allowed {allowed or self.allowed()} "
                            f"({self.why})")


@dataclass(frozen=True)
class Schema:
    top: dict[str, Field]  # the file's own keys (name, description)
    sections: dict[str, dict[str, Field]]  # [patient], [prescription], ..., [expect]
    event: dict[str, Field]  # the keys every [[events]] entry has
    actions: dict[str, dict[str, Field]]  # action -> its own keys

    def field(self, key: str) -> Field:
        section, _, name = key.partition(".")
        return self.sections[section][name]


SPEC_KEYS = {"type", "why", "unit", "min", "max", "max_from", "choices", "choices_from", "pattern", "default", "required"}


def _field(key: str, spec: dict[str, Any]) -> Field:
    unknown = set(spec) - SPEC_KEYS
    if unknown or spec.get("type") not in TYPES or not spec.get("why"):
        raise ValueError(f"{SCHEMA_PATH.name}: {key}: needs a type ({', '.join(TYPES)}) and a why; unknown {sorted(unknown)}")
    choices = spec.get("choices")
    if "choices_from" in spec:
        choices = CHOICES_FROM[spec["choices_from"]]()
    return Field(key=key, type=spec["type"], why=spec["why"], unit=spec.get("unit", ""), min=spec.get("min"),
                 max=spec.get("max"), max_from=spec.get("max_from"), choices=None if choices is None else tuple(choices),
                 pattern=spec.get("pattern"), default=spec.get("default"), required=spec.get("required", False))


def _fields(prefix: str, table: dict[str, Any]) -> dict[str, Field]:
    return {name: _field(f"{prefix}.{name}", spec) for name, spec in table.items()}


@lru_cache(maxsize=1)
def load_schema(path: Path = SCHEMA_PATH) -> Schema:
    doc = tomllib.loads(path.read_text())
    special = ("scenario", "event", "actions")
    return Schema(
        top=_fields("scenario", doc["scenario"]),
        sections={name: _fields(name, table) for name, table in doc.items() if name not in special},
        event=_fields("events", doc["event"]),
        actions={action: _fields(action, keys) for action, keys in doc["actions"].items()},
    )
