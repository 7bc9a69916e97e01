"""A campaign spec: which scenario, which patients, which doses, which faults, where the firmware runs.

    name = "population_faults"
    base = "sim/scenarios/standard.toml"      # the scenario every patient starts from
    set = ["run.end_min=60"]                  # overrides of it, as `python -m sim run --set`
    runtime = "cpython"                       # or "micropython"

    [population]
    size = 200                                # patients
    seed = 7                                  # patient i is drawn from (seed, i)
    pk_model = "clements"
    [population.table.weight_kg]              # any entry of sim/data/patient_population.json
    mean = 95.0                               # (distributions of weight, age, sex, height, vitals,
                                              #  PK variability, responses), replaced key by key

    [prescription]
    rule = "grid"                             # "grid": patient i gets dose_mg_kg[i % n];
    dose_mg_kg = [0.25, 0.5, 0.75]            # "library": uniform over the library's soft range
    dose_weight = "total"                     # weight the mg/kg is taken of: total, ideal, adjusted

    [[faults]]                                # each happens to a patient with `probability`
    action = "occlude"                        # occlude, power_loss, force_sensor_fault,
    probability = 0.3                         # remove_syringe, disengage_plunger, hypertension,
    at_min = {uniform = [10, 35]}             # desaturation
    undo_after_min = {uniform = [1, 5]}       # release / re-insert / re-engage after this long
    params = {resistance_factor = inf}        # the action's own keys (see sim/scenario.py)

A time is a number (fixed), `{uniform = [low, high]}` or `{normal = [mean, sd], min = .., max = ..}`
(minutes from the start of the session). Every value is checked: a wrong key, type or value is
a `SpecError` naming the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim import scenario as scn
from sim.patient import pk_covariance, population_table
from sim.scenario_schema import Field

FAULTS = ("occlude", "power_loss", "force_sensor_fault", "remove_syringe", "disengage_plunger", "hypertension",
          "desaturation")
UNDO = {"occlude": "release", "remove_syringe": "insert_syringe", "disengage_plunger": "engage_plunger"}
DOSE_WEIGHTS = ("total", "ideal", "adjusted")
RULES = ("grid", "library")


class SpecError(scn.ScenarioError):
    """A campaign spec that cannot be used, said in terms of the file and key."""


@dataclass(frozen=True)
class FaultSpec:
    action: str
    probability: float
    at_min: Any
    undo_after_min: Any = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    source: str
    base: str
    overrides: tuple[str, ...]
    runtime: str
    size: int
    seed: int
    pk_model: str | None
    table: dict[str, Any]
    rule: str
    doses_mg_kg: tuple[float, ...]
    durations_min: tuple[int, ...]
    dose_weight: str
    faults: tuple[FaultSpec, ...]
    text: str

    @property
    def digest(self) -> str:
        """Identifies the spec's content, so results are never resumed under a changed spec."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


def _f(key: str, kind: str, why: str, **kw: Any) -> Field:
    return Field(key=key, type=kind, why=why, **kw)


# Scalar keys: checked by the scenario schema's Field (type, range, choices, and why).
# Tables and lists are checked below, by what they hold.
TOP = {"name": _f("name", "text", "names the output folder out/campaign/<name>", pattern=r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"),
       "description": _f("description", "text", "one line for the report", default=""),
       "base": _f("base", "text", "the scenario every patient starts from", required=True),
       "set": list, "runtime": _f("runtime", "text", "where the firmware runs", choices=tuple(scn.RUNTIMES),
                                  default="cpython"),
       "population": dict, "prescription": dict, "faults": list}
POPULATION = {"size": _f("population.size", "integer", "how many patients", min=1, max=1_000_000, required=True),
              "seed": _f("population.seed", "integer", "patient i is drawn from (seed, i)", min=0,
                         max=2**63 - 1, default=1),
              "pk_model": _f("population.pk_model", "text", "a parameter set in sim/data/pk_models.json",
                             choices=scn.SCHEMA.field("patient.pk_model").choices),
              "table": dict}
PRESCRIPTION = {"rule": _f("prescription.rule", "text", "how each patient's dose is chosen", choices=RULES,
                           default="grid"),
                "dose_mg_kg": list, "duration_min": list,
                "dose_weight": _f("prescription.dose_weight", "text", "the weight the mg/kg is taken of",
                                  choices=DOSE_WEIGHTS, default="total")}
FAULT = {"action": _f("action", "text", "the engine's fault processes", choices=FAULTS, required=True),
         "probability": _f("probability", "number", "the chance a patient has this fault", min=0, max=1, required=True),
         "at_min": (int, float, dict), "undo_after_min": (int, float, dict), "params": dict}
DOSE = _f("prescription.dose_mg_kg", "number", "a dose the pump can be asked for (whole ug/kg)", unit="mg/kg",
          min=0.001, max=10)
DURATION = _f("prescription.duration_min", "integer", "an infusion of a minute to a day", unit="min", min=1, max=1440)
CONTAINERS = {list: "a list", dict: "a table"}


def load(path: str | Path) -> CampaignSpec:
    """Read and check a campaign spec."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise SpecError(f"{source}: no such campaign spec file")
    text = path.read_text()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{source}: not valid TOML: {e}") from None
    top = _table(doc, TOP, "", source)
    base = Path(top["base"])
    if not base.is_absolute() and not base.exists():
        base = path.parent / base
    if not all(isinstance(item, str) for item in top["set"]):
        raise SpecError(f"{source}: set = {top['set']!r} must be a list of \"section.key=value\" strings")
    try:
        base_scenario = scn.load(base, top["set"])
    except scn.ScenarioError as e:
        raise SpecError(f"{source}: base scenario: {e}") from None
    pop = _table(top["population"], POPULATION, "population.", source)
    table = _population_table(pop["table"], source)
    rx = _table(top["prescription"], PRESCRIPTION, "prescription.", source)
    doses, durations = _prescription(rx, base_scenario, source)
    faults = tuple(_fault(raw, i, source, base_scenario) for i, raw in enumerate(top["faults"]))
    return CampaignSpec(
        name=top["name"] or path.stem, source=source, base=str(base), overrides=tuple(top["set"]),
        runtime=top["runtime"], size=pop["size"], seed=pop["seed"], pk_model=pop["pk_model"], table=table,
        rule=rx["rule"], doses_mg_kg=doses, durations_min=durations, dose_weight=rx["dose_weight"], faults=faults,
        text=text,
    )


def _table(given: Any, schema: dict[str, Any], prefix: str, source: str) -> dict[str, Any]:
    """Check a table's keys: scalars by their Field, tables and lists by kind (filled in later)."""
    if not isinstance(given, dict):
        raise SpecError(f"{source}: [{prefix.rstrip('.')}] must be a table")
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key not in schema:
            raise SpecError(f"{source}: unknown key {prefix}{key} (allowed: {', '.join(schema)})")
        kind = schema[key]
        if isinstance(kind, Field):
            _check(kind, value, source, prefix + key)
        elif not isinstance(value, kind) or isinstance(value, bool):
            raise SpecError(f"{source}: {prefix}{key} = {value!r} must be {CONTAINERS.get(kind, 'a number or a table')}")
        out[key] = value
    for key, kind in schema.items():
        if key in out:
            continue
        if isinstance(kind, Field):
            if kind.required:
                raise SpecError(f"{source}: {prefix}{key} is required: {kind.allowed()} ({kind.why})")
            out[key] = kind.default
        else:
            out[key] = {} if kind is dict else [] if kind is list else None
    return out


def _check(field: Field, value: Any, source: str, key: str) -> None:
    try:
        field.check(value, source, key)
    except scn.ScenarioError as e:
        raise SpecError(str(e)) from None


def _population_table(changes: dict[str, Any], source: str) -> dict[str, Any]:
    """The shipped population table with the spec's entries put in, key by key, then checked."""
    table = copy.deepcopy(population_table())
    _merge(table, changes, "population.table.", source)
    _check_distributions(table, "population.table.", source)
    pk = table["pk_variability"]
    try:
        np.linalg.cholesky(pk_covariance(pk))
    except (np.linalg.LinAlgError, ValueError, KeyError):
        raise SpecError(f"{source}: population.table.pk_variability: omega {pk['omega']} with correlation "
                        f"{pk['correlation']} is not a valid covariance (omegas >= 0, correlations -1..1, "
                        f"pairs named like cl_v1 from cl, v1, v2, v3)") from None
    _check(_f("", "text", "the weight an obese patient's PK scales with", choices=("total", "adjusted")),
           pk["obese_size_weight"], source, "population.table.pk_variability.obese_size_weight")
    _check(_f("", "number", "a fraction", min=0, max=1), table["sex"]["female_fraction"], source,
           "population.table.sex.female_fraction")
    return table


def _merge(into: dict, changes: dict, prefix: str, source: str) -> None:
    for key, value in changes.items():
        if key not in into or key.endswith("note"):
            raise SpecError(f"{source}: unknown key {prefix}{key} (allowed: "
                            f"{', '.join(k for k in into if not k.endswith('note'))})")
        if isinstance(into[key], dict):
            if not isinstance(value, dict):
                raise SpecError(f"{source}: {prefix}{key} = {value!r} must be a table")
            if key == "correlation":  # pairs may be added, not only changed
                into[key].update(value)
                continue
            _merge(into[key], value, f"{prefix}{key}.", source)
        else:
            kind = {bool: "boolean", str: "text", int: "number", float: "number"}.get(type(into[key]), "number")
            _check(_f("", kind, "as in sim/data/patient_population.json"), value, source, prefix + key)
            into[key] = value


def _check_distributions(node: Any, prefix: str, source: str) -> None:
    if not isinstance(node, dict):
        return
    if {"mean", "sd", "min", "max"} <= node.keys():
        _check(_f("", "number", "a spread", min=1e-9), node["sd"], source, prefix + "sd")
        if not node["min"] < node["max"]:
            raise SpecError(f"{source}: {prefix}min = {node['min']!r} must be below {prefix}max = {node['max']!r}")
    if {"median", "sigma_log"} <= node.keys():
        _check(_f("", "number", "a log-normal's median", min=1e-12), node["median"], source, prefix + "median")
        _check(_f("", "number", "a log-normal's spread", min=0, max=5), node["sigma_log"], source, prefix + "sigma_log")
    for key, value in node.items():
        _check_distributions(value, f"{prefix}{key}.", source)


def _prescription(rx: dict[str, Any], base: scn.Scenario, source: str) -> tuple[tuple[float, ...], tuple[int, ...]]:
    base_rx = base["prescription"]
    if base_rx["dose_mg_kg"] is None:
        raise SpecError(f"{source}: base scenario {base.source} prescribes mg/kg/h; campaigns vary mg/kg over a duration")
    if rx["rule"] == "library":
        if rx["dose_mg_kg"]:
            raise SpecError(f"{source}: prescription.dose_mg_kg is for rule = \"grid\"; rule = \"library\" draws "
                            f"the dose from the drug library's soft range")
        doses: tuple[float, ...] = ()
    else:
        doses = tuple(rx["dose_mg_kg"] or [base_rx["dose_mg_kg"]])
        for i, d in enumerate(doses):
            _check(DOSE, d, source, f"prescription.dose_mg_kg[{i}]")
    durations = tuple(rx["duration_min"] or [base_rx["duration_min"]])
    for i, d in enumerate(durations):
        _check(DURATION, d, source, f"prescription.duration_min[{i}]")
    return doses, durations


def _fault(raw: Any, index: int, source: str, base: scn.Scenario) -> FaultSpec:
    where = f"faults[{index}]."
    f = _table(raw, FAULT, where, source)
    end_min = base["run"]["end_min"]
    if f["at_min"] is None:
        raise SpecError(f"{source}: {where}at_min is required: a time distribution in minutes")
    _check_time(f["at_min"], where + "at_min", source, 0, end_min)
    if f["undo_after_min"] is not None:
        if f["action"] not in UNDO:
            raise SpecError(f"{source}: {where}undo_after_min: {f['action']} has no undo (only {', '.join(UNDO)})")
        _check_time(f["undo_after_min"], where + "undo_after_min", source, 0, end_min)
    try:  # the action's own keys, checked as a scenario event's are
        scn._event({"at_min": 0, "action": f["action"], **f["params"]}, index, source, base.sections)
    except scn.ScenarioError as e:
        raise SpecError(f"{e} ({where}params)") from None
    return FaultSpec(f["action"], float(f["probability"]), f["at_min"], f["undo_after_min"], dict(f["params"]))


def _check_time(dist: Any, key: str, source: str, low: float, high: float) -> None:
    minutes = _f("", "number", f"minutes within the run (0..{high}, run.end_min)", unit="min", min=low, max=high)
    if isinstance(dist, (int, float)):
        _check(minutes, dist, source, key)
        return
    if set(dist) == {"uniform"}:
        a = dist["uniform"]
        if not (isinstance(a, list) and len(a) == 2 and all(isinstance(x, (int, float)) for x in a) and a[0] <= a[1]):
            raise SpecError(f"{source}: {key}.uniform = {a!r} must be [low, high] with low <= high")
        for x in a:
            _check(minutes, x, source, key + ".uniform")
        return
    if "normal" in dist and set(dist) <= {"normal", "min", "max"}:
        a = dist["normal"]
        if not (isinstance(a, list) and len(a) == 2 and all(isinstance(x, (int, float)) for x in a) and a[1] >= 0):
            raise SpecError(f"{source}: {key}.normal = {a!r} must be [mean, sd] with sd >= 0")
        for bound in ("min", "max"):
            if bound in dist:
                _check(minutes, dist[bound], source, f"{key}.{bound}")
        return
    raise SpecError(f"{source}: {key} = {dist!r}: allowed a number, {{uniform = [low, high]}} or "
                    f"{{normal = [mean, sd], min = .., max = ..}} (minutes, {low}..{high})")


def draw_time(dist: Any, rng: np.random.Generator, low: float, high: float) -> float:
    """One time from a checked distribution, kept in [low, high]."""
    if isinstance(dist, (int, float)):
        value = float(dist)
    elif "uniform" in dist:
        value = float(rng.uniform(*dist["uniform"]))
    else:
        mean, sd = dist["normal"]
        value = float(mean + sd * rng.standard_normal())
        value = min(max(value, dist.get("min", low)), dist.get("max", high))
    return min(max(value, low), high)


def describe(spec: CampaignSpec) -> dict[str, Any]:
    """What the results were made from (written beside them)."""
    return {"name": spec.name, "source": spec.source, "digest": spec.digest, "size": spec.size, "seed": spec.seed,
            "runtime": spec.runtime, "base": spec.base, "set": list(spec.overrides),
            "faults": [f.action for f in spec.faults], "table": json.loads(json.dumps(spec.table))}
