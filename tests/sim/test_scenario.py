"""Scenario files: loading, overrides, and errors that name the file, key, value and what is allowed."""

from pathlib import Path

import pytest

from sim import scenario as scn
from sim.prescription_entry import EntryError, prescribed_volume_ml, pump_fields

SHIPPED = sorted(scn.SCENARIO_DIR.glob("*.toml"))
STANDARD = scn.SCENARIO_DIR / "standard.toml"


def test_the_required_scenarios_are_shipped():
    """Every scenario the project promises exists and loads."""
    names = {p.stem for p in SHIPPED}
    assert {"standard", "low_dose", "high_dose", "diluted", "occlusion_1mlh", "occlusion_5mlh", "near_empty",
            "wrong_syringe", "hard_limit", "soft_limit_override", "power_loss", "hypertension",
            "induction_course"} <= names
    for path in SHIPPED:
        s = scn.load(path)
        assert s.name == path.stem and s.description


def test_standard_is_the_reference_case():
    """70 kg, 0.5 mg/kg over 40 min, 10 mg/mL, BD 50 mL, 120 min observed."""
    s = scn.load(STANDARD)
    assert s["patient"]["weight_kg"] == 70 and s["run"]["end_min"] == 120
    rx = s["prescription"]
    assert (rx["dose_mg_kg"], rx["duration_min"], rx["concentration_mg_ml"], rx["syringe"]) == (0.5, 40, 10, "bd_plastipak_50")


def test_overrides_replace_fields():
    """--set section.key=value takes TOML values, or text."""
    s = scn.load(STANDARD, ["patient.weight_kg=85.5", "prescription.syringe=terumo_50", "run.seed=7",
                            "patient.pk_model=domino"])
    assert s["patient"]["weight_kg"] == 85.5 and s["prescription"]["syringe"] == "terumo_50"
    assert s["run"]["seed"] == 7 and s["patient"]["pk_model"] == "domino"


@pytest.mark.parametrize("override, words", [
    ("patient.weight=80", ["unknown key patient.weight", "weight_kg"]),
    ("patient.weight_kg=heavy", ["patient.weight_kg", "'heavy'", "is not a number", "20..300 kg"]),
    ("run.runtime=jython", ["run.runtime", "jython", "micropython, cpython"]),
    ("patient.pk_model=schnider", ["patient.pk_model", "clements, domino"]),
    ("run.end_min=0", ["run.end_min", "0.1..100000"]),
    ("pump.rate=5", ["no section 'pump'"]),
    ("weight_kg=80", ["not section.key=value"]),
    ("prescription.dose_mg_kg_h=0.2", ["exactly one of prescription.dose_mg_kg"]),
])
def test_bad_overrides_are_named(override, words):
    """Each bad override names the file, the key, the value and what is allowed."""
    with pytest.raises(scn.ScenarioError) as e:
        scn.load(STANDARD, [override])
    text = str(e.value)
    assert str(STANDARD) in text
    for w in words:
        assert w in text


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "case.toml"
    p.write_text(text)
    return p


BASE = '[prescription]\nconcentration_mg_ml = 10\ndose_mg_kg = 0.5\nduration_min = 40\n'


@pytest.mark.parametrize("extra, words", [
    ('[[events]]\nat_min = 5\naction = "explode"\n', ["events[0].action", "explode", "occlude"]),
    ('[[events]]\nat_min = 5\naction = "occlude"\ncolour = 1\n', ["events[0]", "colour", "resistance_factor"]),
    ('[[events]]\nat_min = 500\naction = "occlude"\n', ["events[0].at_min", "0..120"]),
    ('[[events]]\naction = "occlude"\n', ["needs at_min and action"]),
    ('[pump]\nx = 1\n', ["unknown section or key 'pump'"]),
])
def test_bad_files_are_named(tmp_path, extra, words):
    """Unknown actions, keys, sections and out-of-range times are refused with the file named."""
    path = _write(tmp_path, BASE + extra)
    with pytest.raises(scn.ScenarioError) as e:
        scn.load(path)
    assert str(path) in str(e.value)
    for w in words:
        assert w in str(e.value)


def test_missing_required_key(tmp_path):
    """A prescription without a duration is refused by key."""
    path = _write(tmp_path, '[prescription]\nconcentration_mg_ml = 10\ndose_mg_kg = 0.5\n')
    with pytest.raises(scn.ScenarioError, match="prescription.duration_min is required"):
        scn.load(path)


def test_missing_and_malformed_files(tmp_path):
    """A missing file lists the shipped scenarios; invalid TOML says so."""
    with pytest.raises(scn.ScenarioError, match="no such scenario file.*standard"):
        scn.load(tmp_path / "nope.toml")
    with pytest.raises(scn.ScenarioError, match="not valid TOML"):
        scn.load(_write(tmp_path, "[prescription\n"))


def test_events_are_sorted_and_defaulted(tmp_path):
    """Events come out in time order with their actions' default keys filled in."""
    path = _write(tmp_path, BASE + '[[events]]\nat_min = 30\naction = "release"\n'
                                   '[[events]]\nat_min = 10\naction = "occlude"\n')
    s = scn.load(path)
    assert [(e.at_min, e.action) for e in s.events] == [(10, "occlude"), (30, "release")]
    assert s.events[0].params["resistance_factor"] == float("inf")


def test_pump_fields_are_exact_integers():
    """mg/kg and mg/mL become ug/kg and ug/mL exactly; kg becomes g."""
    rx = scn.load(STANDARD)["prescription"]
    assert pump_fields(rx, 70.5) == {"drug": "ketamine", "profile": "depression", "conc_ug_ml": 10000, "weight_g": 70500,
                                     "duration_min": 40, "syringe": "bd_plastipak_50", "dose_ug_kg": 500}
    assert prescribed_volume_ml(rx, 70) == pytest.approx(3.5)


def test_pump_fields_refuse_fractions_of_the_unit():
    """0.0005 mg/kg is half a ug/kg: an error, not a rounding."""
    rx = dict(scn.load(STANDARD)["prescription"], dose_mg_kg=0.0005)
    with pytest.raises(EntryError, match="dose_mg_kg"):
        pump_fields(rx, 70)
