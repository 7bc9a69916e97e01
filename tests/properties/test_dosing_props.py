"""Property tests of the firmware's dose math and motion plan (CPython, hypothesis)."""

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import dosing
from firmware.board import Board
from firmware.library import DOSE_OVER_DURATION, DrugLibrary
from firmware.motion import MotionPlan
from firmware.syringes import SyringeTable
from tests.properties.mpy_dose_batch import evaluate

ROOT = Path(__file__).resolve().parents[2]
MICROPYTHON = Path(sys.executable).parent / "micropython"
LIBRARY = DrugLibrary.load()
SYRINGES = SyringeTable.load()
BOARD_NAMES = ["VIRTUAL", "RPI_PICO", "ESP32_DEVKITC"]
BOARDS = {n: Board.load(n) for n in BOARD_NAMES}
# pi to 50 digits: the reference the firmware's rational pi is judged against.
PI = Fraction("3.14159265358979323846264338327950288419716939937510")


def _hard(profile, field):
    lim = profile.limit(field)
    return st.integers(lim.hard_min, lim.hard_max)


@st.composite
def prescriptions(draw, within_hard=True):
    """A prescription inside every hard limit of a random profile, syringe and board."""
    drug = "ketamine"
    name = draw(st.sampled_from(LIBRARY.profiles(drug)))
    profile = LIBRARY.profile(drug, name)
    rx = {
        "drug": drug,
        "profile": name,
        "conc_ug_ml": draw(st.sampled_from(profile.concentrations_ug_ml)),
        "weight_g": draw(st.integers(LIBRARY.weight_g.hard_min, LIBRARY.weight_g.hard_max)),
        "duration_min": draw(_hard(profile, "duration_min")),
        "syringe": draw(st.sampled_from(SYRINGES.ids())),
    }
    if profile.mode == DOSE_OVER_DURATION:
        rx["dose_ug_kg"] = draw(_hard(profile, "dose_ug_kg"))
    else:
        rx["rate_ug_kg_h"] = draw(_hard(profile, "rate_ug_kg_h"))
    if not within_hard:
        field = draw(st.sampled_from(sorted(rx)))
        rx[field] = draw(st.one_of(st.integers(-10**9, 10**9), st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=8), st.none()))
    return {"rx": rx, "board": draw(st.sampled_from(BOARD_NAMES))}


def _exact_steps(rx, board_name):
    """Microsteps by exact rational arithmetic, from first principles."""
    profile = LIBRARY.profile(rx["drug"], rx["profile"])
    kg = Fraction(rx["weight_g"], 1000)
    if profile.mode == DOSE_OVER_DURATION:
        ug = rx["dose_ug_kg"] * kg
    else:
        ug = rx["rate_ug_kg_h"] * kg * Fraction(rx["duration_min"], 60)
    ml = ug / rx["conc_ug_ml"]
    d_mm = Fraction(SYRINGES.get(rx["syringe"]).inner_diameter_um, 1000)
    travel_mm = ml * 1000 / (PI * d_mm * d_mm / 4)
    drive = BOARDS[board_name].drive
    return travel_mm / Fraction(drive.lead_pitch_um, 1000) * drive.usteps_per_rev


@settings(max_examples=400, deadline=None)
@given(prescriptions())
def test_steps_agree_with_exact_rational_arithmetic(case):
    """Within the hard limits, every syringe and board: |firmware steps - exact| < 1 microstep."""
    rx = case["rx"]
    profile = LIBRARY.profile(rx["drug"], rx["profile"])
    dose = dosing.dose_ug(profile.mode, rx["weight_g"], rx.get("dose_ug_kg", 0), rx.get("rate_ug_kg_h", 0), rx["duration_min"])
    volume = dosing.volume_nl(dose, rx["conc_ug_ml"])
    steps = dosing.total_steps(volume, SYRINGES.get(rx["syringe"]).inner_diameter_um, BOARDS[case["board"]].drive)
    assert abs(steps - _exact_steps(rx, case["board"])) < 1


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2_000_000), st.integers(1, 240 * 60000), st.lists(st.integers(0, 20000), max_size=200))
def test_motion_plan_is_monotone_exact_and_ends_on_total(total, duration, deltas):
    """Any slicing of time gives the closed form, never decreases, and ends exactly on the total."""
    plan = MotionPlan(total, duration)
    elapsed, last = 0, 0
    for d in deltas:
        target = plan.advance(d)
        elapsed = min(duration, elapsed + d)
        assert target == total * elapsed // duration
        assert last <= target <= total
        last = target
    plan.advance(duration)
    assert plan.target == total and plan.done()


@settings(max_examples=4, deadline=None)
@given(st.lists(st.one_of(prescriptions(), prescriptions(within_hard=False)), min_size=50, max_size=80))
def test_micropython_and_cpython_give_identical_integers(batch):
    """The same random batch (valid and invalid) gives bit-identical results in both interpreters."""
    proc = subprocess.run([str(MICROPYTHON), "tests/properties/mpy_dose_batch.py"], input=json.dumps(batch),
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(json.dumps(evaluate(batch)))
