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
    [expect]        end_state, prescription_result, alarm, no_alarms, max_... (what the run must show)
    [[events]]      at_min, action, and the action's own keys

Every key's type, unit and allowed range is data, in sim/data/scenario_schema.toml (read by
sim/scenario_schema.py); the rules that span keys are below. `--set section.key=value` overrides
any field (the value is read as TOML, else as text). Anything wrong is a ScenarioError that names
the file, the key, the value and what is allowed, before anything runs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.prescription_entry import EntryError, pump_fields
from sim.scenario_schema import Field, ScenarioError, load_schema
from sim.syringe import SyringeSpec, load_syringe_table

__all__ = ["Event", "Scenario", "ScenarioError", "load", "SCENARIO_DIR", "RUNTIMES"]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SCHEMA = load_schema()
RUNTIMES = SCHEMA.field("run.runtime").choices or ()
# The syringe the runner loads when the prescription names one the table does not know
# (the pump refuses the prescription; something must still sit in the pump).
FALLBACK_SYRINGE = "bd_plastipak_50"


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
    doc = _read(path)
    for item in overrides:
        _apply_override(doc, item, str(path))
    return _validate(doc, str(path))


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
        raise ScenarioError(f"{path}: no such scenario file (shipped scenarios in {SCENARIO_DIR.name}/: {known})")
    if path.is_dir():
        raise ScenarioError(f"{path}: is a folder; give a scenario file (e.g. {SCENARIO_DIR.name}/standard.toml)")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise ScenarioError(f"{path}: cannot be read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not UTF-8 text, so not a TOML file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from None


def _apply_override(doc: dict, item: str, source: str) -> None:
    key, eq, text = item.partition("=")
    if not eq or "." not in key:
        raise ScenarioError(f"{source}: override {item!r} is not section.key=value (e.g. patient.weight_kg=80)")
    section, _, name = key.partition(".")
    if section not in SCHEMA.sections:
        raise ScenarioError(f"{source}: override {item!r}: no section {section!r} (sections: {', '.join(SCHEMA.sections)})")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    table = doc.setdefault(section, {})
    if not isinstance(table, dict):
        raise ScenarioError(f"{source}: [{section}] must be a table")
    table[name] = value


def _keys(given: Any, fields: dict[str, Field], where: str, source: str) -> dict[str, Any]:
    """Check a table's keys against their fields; absent keys take their defaults."""
    if not isinstance(given, dict):
        raise ScenarioError(f"{source}: {where} must be a table of keys")
    out = {}
    for key, value in given.items():
        if key not in fields:
            raise ScenarioError(f"{source}: unknown key {where}.{key} (allowed: {', '.join(fields) or 'none'})")
        fields[key].check(value, source, f"{where}.{key}")
        out[key] = value
    for key, f in fields.items():
        if key not in out:
            if f.required:
                raise ScenarioError(f"{source}: {where}.{key} is required: {f.allowed()} ({f.why})")
            out[key] = f.default
    return out


def _validate(doc: dict, source: str) -> Scenario:
    allowed = [*SCHEMA.top, *SCHEMA.sections, "events"]
    for key in doc:
        if key not in allowed:
            raise ScenarioError(f"{source}: unknown section or key {key!r} (allowed: {', '.join(allowed)})")
    top = _keys({k: v for k, v in doc.items() if k in SCHEMA.top}, SCHEMA.top, "scenario", source)
    sections = {name: _keys(doc.get(name, {}), fields, name, source) for name, fields in SCHEMA.sections.items()}
    expect = {k: v for k, v in sections.pop("expect").items() if v is not None}
    raw_events = doc.get("events", [])
    if not isinstance(raw_events, list):
        raise ScenarioError(f"{source}: events must be a list of [[events]] tables")
    _check_together(sections, source)
    events = sorted((_event(e, i, source, sections) for i, e in enumerate(raw_events)), key=lambda e: e.at_min)
    return Scenario(name=top["name"] or Path(source).stem, description=top["description"], source=source,
                    sections=sections, events=events, expect=expect)


def _event(raw: Any, index: int, source: str, sections: dict[str, dict[str, Any]]) -> Event:
    where = f"events[{index}]"
    if not isinstance(raw, dict) or "action" not in raw or "at_min" not in raw:
        raise ScenarioError(f"{source}: {where} needs at_min and action")
    action = raw["action"]
    if not isinstance(action, str) or action not in SCHEMA.actions:
        raise ScenarioError(f"{source}: {where}.action = {action!r} is not allowed: allowed {', '.join(SCHEMA.actions)}")
    own = {k: v for k, v in raw.items() if k != "action"}
    fields = {**SCHEMA.event, **SCHEMA.actions[action]}
    if unknown := [k for k in own if k not in fields]:
        raise ScenarioError(f"{source}: {where}: {action} takes no key {unknown[0]!r} "
                            f"(allowed: {', '.join(SCHEMA.actions[action]) or 'none'})")
    params = _keys(own, fields, where, source)
    end_min = sections["run"]["end_min"]
    if params["at_min"] > end_min:
        SCHEMA.event["at_min"].refuse(params["at_min"], source, "is after the run", f"{where}.at_min",
                                      f"0..{end_min} min (run.end_min)")
    if action == "insert_syringe" and params["fill_ml"] is not None:
        _check_fill(source, f"{where}.fill_ml", params["fill_ml"], sections["prescription"])
    return Event(float(params.pop("at_min")), action, params)


def _check_together(s: dict[str, dict[str, Any]], source: str) -> None:
    """The rules that span keys (each key's own range is in the schema; events check their own)."""
    rx, run, patient = s["prescription"], s["run"], s["patient"]
    if (rx["dose_mg_kg"] is None) == (rx["dose_mg_kg_h"] is None):
        raise ScenarioError(f"{source}: give exactly one of prescription.dose_mg_kg (mg/kg over the duration) "
                            f"or prescription.dose_mg_kg_h (mg/kg/h)")
    try:
        pump_fields(rx, patient["weight_kg"])
    except EntryError as e:
        raise ScenarioError(f"{source}: {e}") from None
    _check_below(source, "run.start_min", run["start_min"], "run.end_min", run["end_min"],
                 "the prescription is entered during the run")
    if patient["baseline_dbp_mmhg"] is not None and patient["baseline_sbp_mmhg"] is not None:
        _check_below(source, "patient.baseline_dbp_mmhg", patient["baseline_dbp_mmhg"], "patient.baseline_sbp_mmhg",
                     patient["baseline_sbp_mmhg"], "diastolic pressure is below systolic")
    fill = s["syringe"]["fill_ml"]
    if fill is not None:
        _check_fill(source, "syringe.fill_ml", fill, rx)
    _check_below(source, "syringe.prime_ml", s["syringe"]["prime_ml"], "syringe.fill_ml",
                 _loaded_syringe(rx).capacity_ul / 1000.0 if fill is None else fill, "the purge must leave drug in the syringe")


def _check_below(source: str, key: str, value: float, bound_name: str, bound: float, why: str) -> None:
    if not value < bound:
        raise ScenarioError(f"{source}: {key} = {value!r} is out of range: allowed below {bound_name} = {bound!r} ({why})")


def _loaded_syringe(rx: dict[str, Any]) -> SyringeSpec:
    """The syringe that sits in the pump: the one prescribed, or the fallback if the table does not know it."""
    table = load_syringe_table()
    return table.get(rx["syringe"]) or table[FALLBACK_SYRINGE]


def _check_fill(source: str, key: str, fill_ml: float, rx: dict[str, Any]) -> None:
    spec = _loaded_syringe(rx)
    if fill_ml > spec.capacity_ul / 1000.0:
        SCHEMA.field("syringe.fill_ml").refuse(
            fill_ml, source, "is more than the syringe holds", key,
            f"0.001..{spec.capacity_ul / 1000.0:g} mL, the capacity of {spec.id} (prescription.syringe), the syringe loaded")
