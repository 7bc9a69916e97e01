"""Scenario values are checked at load against the schema (sim/data/scenario_schema.toml): a bad
value is a clear error (exit 2, the key, the value and the range, no traceback), and any value
the schema lets through runs. The pump's refusal reaches the summary and the console."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import report, runner
from sim import scenario as scn
from sim.__main__ import main
from sim.bus import ROOT
from sim.scenario_schema import Field

STANDARD = scn.SCENARIO_DIR / "standard.toml"
HARD_LIMIT = scn.SCENARIO_DIR / "hard_limit.toml"
# A short run of the firmware imported into this interpreter: fast enough to run hundreds.
SHORT = ['run.runtime="cpython"', "run.end_min=3"]
MAX_RUN_MIN = 12  # accepted scenarios that would simulate longer are only validated


def _cli(capsys, *argv):
    rc = main(["run", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


# ---- the reproduced cases: each ran, crashed or said the wrong thing before -------------------
@pytest.mark.parametrize("override, words", [
    ("prescription.duration_min=0", ["prescription.duration_min = 0", "1..10080 min"]),
    ("prescription.concentration_mg_ml=0", ["prescription.concentration_mg_ml = 0", "0.001..1000 mg/mL"]),
    ("prescription.concentration_mg_ml=-10", ["prescription.concentration_mg_ml = -10", "0.001..1000 mg/mL"]),
    ("prescription.dose_mg_kg=-0.5", ["prescription.dose_mg_kg = -0.5", "0..100 mg/kg"]),
    ("syringe.fill_ml=500", ["syringe.fill_ml = 500", "0.001..50 mL", "capacity of bd_plastipak_50"]),
])
def test_reproduced_bad_overrides_exit_2_with_key_value_and_range(capsys, tmp_path, override, words):
    """Zero duration and concentration divided by zero; -10 mg/mL failed inside the PK model; a
    negative dose ran and prescribed -3.5 mL; 500 mL in a 50 mL syringe was cut to 50. Now each
    is refused at load, before anything runs or is written."""
    out = tmp_path / "out"
    rc, stdout, err = _cli(capsys, STANDARD, "--runtime", "cpython", "--set", override, "--out", out)
    assert rc == 2, (stdout, err)
    assert err.startswith("error: ") and str(STANDARD) in err
    for w in words:
        assert w in err
    assert not out.exists()


def test_a_folder_as_the_scenario_exits_2(capsys):
    """A folder raised IsADirectoryError."""
    rc, _, err = _cli(capsys, scn.SCENARIO_DIR)
    assert rc == 2 and "is a folder" in err and "standard.toml" in err


def test_a_typo_in_expect_is_an_unknown_key(capsys, tmp_path):
    """A misspelt [expect] key ran and reported 'NOT MET ... got None'."""
    path = tmp_path / "typo.toml"
    path.write_text(STANDARD.read_text().replace('end_state = "complete"', 'end_sate = "complete"'))
    rc, stdout, err = _cli(capsys, path, "--runtime", "cpython", "--out", tmp_path / "out")
    assert rc == 2 and "unknown key expect.end_sate" in err and "end_state" in err, (stdout, err)


def test_an_expected_alarm_must_be_one_the_pump_can_raise():
    """alarm = "OCLUSION" could never be met; it is refused with the codes that exist."""
    with pytest.raises(scn.ScenarioError, match=r"expect.alarm = 'OCLUSION' is not allowed: .*OCCLUSION"):
        scn.load(STANDARD, ["expect.alarm=OCLUSION"])


def test_every_expect_key_in_the_schema_is_checked_by_the_report():
    """The schema and report.check_expectations know the same [expect] keys."""
    summary_ = {"end_state": "complete", "prescription_result": ["STARTED"], "alarms": [], "time_to_alarm_s": 1.0,
                "bolus_after_release_ml": 0.0, "volume_error_pct": 0.1}
    examples = {"number": 5, "boolean": True, "text": "complete"}
    for key, f in scn.SCHEMA.sections["expect"].items():
        want = f.choices[0] if f.choices else examples[f.type]
        assert report.check_expectations({key: want}, summary_)[key]["actual"] is not None, key


def test_the_pumps_refusal_names_field_value_and_range(capsys, tmp_path):
    """hard_limit showed HARD_LIMIT alone; the pump's field, value and range now reach the
    summary and the console line."""
    rc, stdout, err = _cli(capsys, HARD_LIMIT, "--runtime", "cpython", "--out", tmp_path)
    assert rc == 0, err
    assert "HARD_LIMIT (PROGRAM refused: dose_ug_kg=1500, allowed 50..1000)" in stdout
    summary_ = json.loads((tmp_path / "summary.json").read_text())
    assert summary_["prescription_result"] == ["HARD_LIMIT"]
    assert summary_["prescription_refusal"] == [{"command": "PROGRAM", "code": "HARD_LIMIT", "field": "dose_ug_kg",
                                                 "value": 1500, "allowed": "50..1000"}]


def test_a_refused_start_is_carried_with_its_field(tmp_path):
    """Not only PROGRAM: START refused (the syringe was taken out) keeps the pump's field too."""
    path = tmp_path / "removed.toml"
    path.write_text(STANDARD.read_text() + '\n[[events]]\naction = "remove_syringe"\nat_min = 0.5\n')
    s = report.summary(runner.run(scn.load(path, SHORT)), {"csv": "", "summary": "", "figure": ""})
    refusal = s["prescription_refusal"][0]
    assert (refusal["command"], refusal["code"], refusal["field"]) == ("START", "NOT_READY", "syringe_present")
    assert "NOT_READY (START refused: syringe_present=false" in report.human(s)


def test_out_of_pump_limits_but_meaningful_values_still_reach_the_pump():
    """The scenario's ranges are physical, not the library's: a weight entered ten times too
    large and a 2 mg/kg dose load and are refused by the pump, naming its own range."""
    for override, field, allowed in (("prescription.weight_kg=700", "weight_g", "20000..250000"),
                                     ("prescription.dose_mg_kg=2", "dose_ug_kg", "50..1000")):
        s = report.summary(runner.run(scn.load(STANDARD, [*SHORT, override])), {})
        refusal = s["prescription_refusal"][0]
        assert (refusal["code"], refusal["field"], refusal["allowed"]) == ("HARD_LIMIT", field, allowed)


# ---- the command line: exit 2, one line, no traceback, nothing written -------------------------
@pytest.mark.parametrize("argv, words", [
    (["sim/scenarios/nope.toml"], ["no such scenario file", "standard"]),
    (["sim/scenarios"], ["is a folder"]),
    (["README.md"], ["not valid TOML"]),
    (["sim/scenarios/standard.toml", "--set", "patient.wieght_kg=80"], ["unknown key patient.wieght_kg"]),
    (["sim/scenarios/standard.toml", "--set", "patient.weight_kg=[80]"], ["patient.weight_kg = [80] is not a number"]),
    (["sim/scenarios/standard.toml", "--set", "run.end_min=nan"], ["run.end_min = nan", "0.1..100000 min"]),
    (["sim/scenarios/standard.toml", "--seed", "-1"], ["run.seed = -1", "0..2147483647"]),
])
def test_command_line_bad_input_exits_2_without_a_traceback(tmp_path, argv, words):
    out = subprocess.run([sys.executable, "-m", "sim", "run", *argv, "--out", str(tmp_path / "out")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.startswith("error: ") and out.stderr.count("\n") == 1
    for w in words:
        assert w in out.stderr
    assert not (tmp_path / "out").exists()


# ---- any value for any key: a clear error or a run ---------------------------------------------
FIELDS = {f"{section}.{name}": f for section, fields in scn.SCHEMA.sections.items() for name, f in fields.items()}
ARBITRARY = st.one_of(
    st.integers(), st.integers(min_value=-(10**30), max_value=10**30), st.floats(), st.booleans(),
    st.text(max_size=40), st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=5)), max_size=3),
    st.sampled_from([0, -1, 1e308, -1e308, math.nan, math.inf, -math.inf, "", "nan", "inf"]),
)


def _near(f: Field) -> st.SearchStrategy:
    """Values at, inside and just outside a key's range, or its choices."""
    if f.choices:
        return st.sampled_from(f.choices)
    if f.pattern:
        return st.from_regex(f.pattern, fullmatch=True)
    if f.type in ("number", "integer") and f.min is not None:
        high = f.max if f.max is not None else 60  # max_from (a syringe's capacity): beyond the largest
        edges = [f.min, high, f.min - 1, high + 1] if f.type == "integer" else \
            [f.min, high, math.nextafter(f.min, -math.inf), math.nextafter(high, math.inf)]
        inside = st.integers(int(f.min), int(min(high, 2**63))) if f.type == "integer" else \
            st.floats(f.min, high).map(lambda x: round(x, 3))
        return st.one_of(st.sampled_from(edges), inside)
    return ARBITRARY


def _value(f: Field) -> st.SearchStrategy:
    """Half anything at all, half values near the key's range (most of which run)."""
    return st.booleans().flatmap(lambda anything: ARBITRARY if anything else _near(f))


def _toml(value) -> str:
    """A value as TOML text, as someone would type it after --set key=."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):  # a basic string, anything but printable ASCII escaped
        return '"' + "".join(c if " " <= c <= "~" and c not in '"\\' else
                             f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}" for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return str(value)


def _run_or_refuse(path: Path, overrides: list[str], key: str) -> None:
    """The contract: a ScenarioError naming the key, or a scenario that runs and reports."""
    try:
        s = scn.load(path, overrides)
    except scn.ScenarioError as e:
        assert key in str(e), str(e)
        return
    if s["course"]["sessions"] * s["run"]["end_min"] <= MAX_RUN_MIN:
        report.human(report.summary(runner.run(s), {"csv": "", "summary": "", "figure": ""}))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_for_any_key_is_a_clear_error_or_a_run(data):
    """Every key through the --set path, with arbitrary values (as TOML or as plain text) and
    values at the edges of its range: a ScenarioError that names the key, or a run."""
    key = data.draw(st.sampled_from(sorted(FIELDS)), label="key")
    value = data.draw(_value(FIELDS[key]), label="value")
    text = value if isinstance(value, str) and data.draw(st.booleans(), label="as plain text") else _toml(value)
    _run_or_refuse(STANDARD, [*SHORT, f"{key}={text}"], key)


EVENT_KEYS = [(action, key) for action, fields in scn.SCHEMA.actions.items() for key in ("at_min", *fields)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_for_any_event_key_is_a_clear_error_or_a_run(data, tmp_path_factory):
    """Each action's keys (and at_min) in a scenario file, with arbitrary values."""
    action, key = data.draw(st.sampled_from(EVENT_KEYS), label="action and key")
    f = scn.SCHEMA.event[key] if key == "at_min" else scn.SCHEMA.actions[action][key]
    value = data.draw(_value(f), label="value")
    at = "" if key == "at_min" else "at_min = 1.5\n"
    path = tmp_path_factory.mktemp("event") / "event.toml"
    path.write_text(STANDARD.read_text() + f'\n[[events]]\naction = "{action}"\n{at}{key} = {_toml(value)}\n')
    _run_or_refuse(path, SHORT, key)


def test_an_event_is_named_by_its_place_in_the_file(tmp_path):
    """Events are sorted by time after they are checked, so an error names the one in the file."""
    path = tmp_path / "events.toml"
    path.write_text(STANDARD.read_text() + '\n[[events]]\naction = "release"\nat_min = 30\n'
                                           '[[events]]\naction = "insert_syringe"\nat_min = 10\nfill_ml = 80\n')
    with pytest.raises(scn.ScenarioError, match=r"events\[1\].fill_ml = 80 .*0.001..50 mL, the capacity of bd_plastipak_50"):
        scn.load(path)
