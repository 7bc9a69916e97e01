"""Scenarios: one TOML file per clinical situation, with overrides from the command line.

    name = "standard"
    [patient]       weight_kg, age_years, pk_model, hypertensive, baseline_sbp_mmhg, ...
    [prescription]  drug, profile, concentration_mg_ml, dose_mg_kg | dose_mg_kg_h, duration_min, syringe,
                    confirm_soft_limits
    [syringe]       fill_ml, prime_ml (purged to waste before the line goes to the patient)
    [board]         name
    [monitor]       connected, cuff_interval_min
    [run]           end_min, seed, start_min, sample_s, runtime
    [course]        sessions, interval_days           (a repeated-session course)
    [[events]]      at_min, action, and the action's own keys

`--set section.key=value` overrides any field (the value is read as TOML, else as text). A
wrong key, type or value is an error that names the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

# section -> key -> (type(s), default); a default of REQUIRED must be given.
REQUIRED = object()
NUM = (int, float)
SCHEMA: dict[str, dict[str, tuple[Any, Any]]] = {
    "patient": {
        "weight_kg": (NUM, 70), "age_years": (NUM, 45), "pk_model": (str, "clements"),
        "hypertensive": (bool, False), "baseline_sbp_mmhg": (NUM, None), "baseline_dbp_mmhg": (NUM, None),
        "baseline_hr_bpm": (NUM, None), "sbp_rise_mmhg_per_ng_ml": (NUM, None), "noise_seed": (int, None),
    },
    "prescription": {
        "drug": (str, "ketamine"), "profile": (str, "depression"), "concentration_mg_ml": (NUM, REQUIRED),
        "dose_mg_kg": (NUM, None), "dose_mg_kg_h": (NUM, None), "duration_min": (int, REQUIRED),
        "syringe": (str, "bd_plastipak_50"), "confirm_soft_limits": (bool, False),
        "weight_kg": (NUM, None),  # as entered, when it differs from the patient's (an entry error)
    },
    "syringe": {"fill_ml": (NUM, None), "prime_ml": (NUM, 0.2)},
    "board": {"name": (str, "VIRTUAL")},
    "monitor": {"connected": (bool, True), "cuff_interval_min": (NUM, 5)},
    "run": {"end_min": (NUM, 120), "seed": (int, 1), "start_min": (NUM, 1), "sample_s": (NUM, 5),
            "runtime": (str, "micropython")},
    "course": {"sessions": (int, 1), "interval_days": (NUM, 3)},
}
TOP_LEVEL = {"name": str, "description": str, "expect": dict}
RUNTIMES = ("micropython", "cpython")
PK_MODELS = ("clements", "domino")

# action -> its keys (beyond at_min and action) with types and defaults
ACTIONS: dict[str, dict[str, tuple[Any, Any]]] = {
    "occlude": {"resistance_factor": (NUM, float("inf"))},
    "release": {},
    "remove_syringe": {},
    "insert_syringe": {"fill_ml": (NUM, None)},
    "disengage_plunger": {},
    "engage_plunger": {},
    "power_loss": {"off_s": (NUM, 30)},
    "pause": {}, "resume": {}, "acknowledge": {}, "stop": {},
    "hypertension": {"duration_min": (NUM, 20), "sbp_mmhg": (NUM, 60), "dbp_mmhg": (NUM, 35), "hr_bpm": (NUM, 10)},
    "desaturation": {"duration_min": (NUM, 5), "drop_pct": (NUM, 10)},
    "force_sensor_fault": {"kind": (str, "silent")},
}


class ScenarioError(ValueError):
    """A scenario file or override that cannot be used, said in terms of the file and key."""


@dataclass
class Event:
    at_min: float
    action: str
    params: dict[str, Any]


@dataclass
class Scenario:
    name: str
    description: str
    source: str
    sections: dict[str, dict[str, Any]]
    events: list[Event]
    expect: dict[str, Any]

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]


def load(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read a scenario file, apply `section.key=value` overrides, validate everything."""
    path = Path(path)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
        raise ScenarioError(f"{path}: no such scenario file (shipped scenarios in {SCENARIO_DIR.name}/: {known})")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from None
    for item in overrides:
        _apply_override(doc, item, str(path))
    return _validate(doc, str(path))


def _apply_override(doc: dict, item: str, source: str) -> None:
    key, eq, text = item.partition("=")
    if not eq or "." not in key:
        raise ScenarioError(f"{source}: override {item!r} is not section.key=value (e.g. patient.weight_kg=80)")
    section, _, name = key.partition(".")
    if section not in SCHEMA:
        raise ScenarioError(f"{source}: override {item!r}: no section {section!r} (sections: {', '.join(SCHEMA)})")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    doc.setdefault(section, {})[name] = value


def _check_type(source: str, key: str, value: Any, kind: Any) -> None:
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool) and bool not in _as_tuple(kind))
    if not ok:
        names = "/".join(t.__name__ for t in _as_tuple(kind))
        raise ScenarioError(f"{source}: {key} = {value!r} must be {names}")


def _as_tuple(kind: Any) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _section(doc: dict, section: str, source: str) -> dict[str, Any]:
    given = doc.get(section, {})
    if not isinstance(given, dict):
        raise ScenarioError(f"{source}: [{section}] must be a table")
    schema = SCHEMA[section]
    out = {}
    for key, value in given.items():
        if key not in schema:
            raise ScenarioError(f"{source}: unknown key {section}.{key} (allowed: {', '.join(schema)})")
        _check_type(source, f"{section}.{key}", value, schema[key][0])
        out[key] = value
    for key, (_kind, default) in schema.items():
        if key not in out:
            if default is REQUIRED:
                raise ScenarioError(f"{source}: {section}.{key} is required")
            out[key] = default
    return out


def _validate(doc: dict, source: str) -> Scenario:
    for key in doc:
        if key not in SCHEMA and key not in TOP_LEVEL and key != "events":
            raise ScenarioError(f"{source}: unknown section or key {key!r} (allowed: {', '.join([*TOP_LEVEL, *SCHEMA, 'events'])})")
    sections = {name: _section(doc, name, source) for name in SCHEMA}
    _check_values(sections, source)
    events = [_event(e, i, source, sections["run"]["end_min"]) for i, e in enumerate(doc.get("events", []))]
    events.sort(key=lambda e: e.at_min)
    return Scenario(
        name=str(doc.get("name", Path(source).stem)),
        description=str(doc.get("description", "")),
        source=source,
        sections=sections,
        events=events,
        expect=dict(doc.get("expect", {})),
    )


def _check_values(s: dict[str, dict[str, Any]], source: str) -> None:
    rx, run, patient = s["prescription"], s["run"], s["patient"]
    if run["runtime"] not in RUNTIMES:
        raise ScenarioError(f"{source}: run.runtime = {run['runtime']!r}: allowed {', '.join(RUNTIMES)}")
    if patient["pk_model"] not in PK_MODELS:
        raise ScenarioError(f"{source}: patient.pk_model = {patient['pk_model']!r}: allowed {', '.join(PK_MODELS)}")
    if (rx["dose_mg_kg"] is None) == (rx["dose_mg_kg_h"] is None):
        raise ScenarioError(f"{source}: give exactly one of prescription.dose_mg_kg (mg/kg over the duration) "
                            f"or prescription.dose_mg_kg_h (mg/kg/h)")
    for section, key, low, high in (("patient", "weight_kg", 1, 400), ("run", "end_min", 0.1, 100000),
                                    ("run", "sample_s", 0.1, 3600), ("run", "start_min", 0, 100000),
                                    ("course", "sessions", 1, 50), ("course", "interval_days", 0.1, 60)):
        v = s[section][key]
        if not low <= v <= high:
            raise ScenarioError(f"{source}: {section}.{key} = {v!r}: allowed {low}..{high}")


def _event(raw: Any, index: int, source: str, end_min: float) -> Event:
    where = f"events[{index}]"
    if not isinstance(raw, dict) or "action" not in raw or "at_min" not in raw:
        raise ScenarioError(f"{source}: {where} needs at_min and action")
    action = raw["action"]
    if action not in ACTIONS:
        raise ScenarioError(f"{source}: {where}.action = {action!r}: allowed {', '.join(ACTIONS)}")
    _check_type(source, f"{where}.at_min", raw["at_min"], NUM)
    if not 0 <= raw["at_min"] <= end_min:
        raise ScenarioError(f"{source}: {where}.at_min = {raw['at_min']!r}: allowed 0..{end_min} (run.end_min)")
    params = {}
    schema = ACTIONS[action]
    for key, value in raw.items():
        if key in ("action", "at_min"):
            continue
        if key not in schema:
            raise ScenarioError(f"{source}: {where}: {action} takes no key {key!r} (allowed: {', '.join(schema) or 'none'})")
        _check_type(source, f"{where}.{key}", value, schema[key][0])
        params[key] = value
    for key, (_kind, default) in schema.items():
        params.setdefault(key, default)
    return Event(float(raw["at_min"]), action, params)

