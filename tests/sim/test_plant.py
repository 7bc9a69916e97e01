"""Tests for sim.plant: drive conversion, mass balance, friction, line dynamics, occlusion, switches."""

import json
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.plant import (
    PLANT_CALIBRATION_PATH,
    DriveTrain,
    LineCompliance,
    Plant,
    line_excess_after,
    load_plant_params,
)
from sim.syringe import load_syringe

BD50 = "bd_plastipak_50"
TICK_S = 0.1
DATA = json.loads(PLANT_CALIBRATION_PATH.read_text())
VENOUS_MMHG = DATA["patient"]["venous_pressure_mmhg"]


def steps_per_ul(plant):
    um_per_step = plant.drive.lead_pitch_um / (plant.drive.full_steps_per_rev * plant.drive.microsteps)
    area_mm2 = math.pi * plant.syringe.inner_diameter_mm**2 / 4
    return 1000.0 / (um_per_step * area_mm2)


def infuse(plant, rate_ml_h, duration_s, tick_s=TICK_S, on_tick=None):
    """Drive the plant at a constant rate from its current time and step count."""
    start_t, start_steps = plant.t_s, plant._steps
    rate_steps_s = rate_ml_h * 1000.0 / 3600.0 * steps_per_ul(plant)
    for n in range(1, round(duration_s / tick_s) + 1):
        t_s = start_t + n * tick_s
        plant.advance(t_s, start_steps + int(n * tick_s * rate_steps_s))
        if on_tick is not None:
            on_tick(plant)


def poiseuille_mmhg_s_per_ul(length_mm, diameter_mm, viscosity_mpa_s):
    radius_m = diameter_mm / 2000.0
    pa_s_per_m3 = 8 * viscosity_mpa_s * 1e-3 * (length_mm / 1000.0) / (math.pi * radius_m**4)
    return pa_s_per_m3 * 1e-9 / 133.322


def line_resistance_from_data():
    line, mu = DATA["line"], DATA["fluid"]["viscosity_mpa_s"]
    return poiseuille_mmhg_s_per_ul(line["extension_length_mm"], line["extension_inner_diameter_mm"], mu) + poiseuille_mmhg_s_per_ul(
        line["cannula_length_mm"], line["cannula_inner_diameter_mm"], mu
    )


def assert_mass_balance(plant):
    assert plant.pushed_ul == pytest.approx(plant.delivered_ul + plant.stored_ul, abs=1e-6 * max(1.0, abs(plant.pushed_ul)))


# --- drive and syringe conversion ------------------------------------------------------


def test_reference_drive_gives_about_7100_steps_per_ml_in_bd50():
    """200 full steps x 16 microsteps on a 0.8 mm lead screw is about 7,100 steps/mL in a BD 50 mL."""
    drive = DriveTrain(200, 16, 800.0)
    area_mm2 = load_syringe(BD50).area_mm2
    steps_per_ml = 1000.0 * 1000.0 / area_mm2 / drive.um_per_step
    assert 7000 < steps_per_ml < 7200


def test_drive_train_reads_the_board_file():
    """DriveTrain.from_board takes full steps, microsteps and pitch from boards/<NAME>/board.json."""
    drive = DriveTrain.from_board("RPI_PICO")
    assert drive.um_per_step == pytest.approx(800.0 / (200 * 16))
    with pytest.raises(ValueError, match="Known boards"):
        DriveTrain.from_board("NO_SUCH_BOARD")


def test_pushed_volume_follows_the_counted_steps():
    """With the plunger engaged, pushed_ul is the steps times the volume per step."""
    plant = Plant(BD50, seed=3)
    plant.advance(1.0, 7144)
    assert plant.pushed_ul == pytest.approx(7144 / steps_per_ul(plant), rel=1e-12)


# --- steady delivery -------------------------------------------------------------------


@pytest.mark.parametrize("rate_ml_h", [1.0, 5.0])
def test_second_hour_delivery_matches_the_programmed_rate(rate_ml_h):
    """Over the second hour the delivered volume is the programmed rate within 2 %."""
    plant = Plant(BD50, seed=4)
    infuse(plant, rate_ml_h, 3600.0)
    start_ul = plant.delivered_ul
    infuse(plant, rate_ml_h, 3600.0)
    assert (plant.delivered_ul - start_ul) / 1000.0 == pytest.approx(rate_ml_h, rel=0.02)


def test_steady_pressure_is_venous_plus_flow_times_resistance():
    """At 50 mL/h the settled line pressure is Pven + Q R, with R from Poiseuille's law."""
    plant = Plant(BD50, seed=None)
    infuse(plant, 50.0, 600.0)
    expected = VENOUS_MMHG + 50_000.0 / 3600.0 * line_resistance_from_data()
    assert plant.pressure_mmhg == pytest.approx(expected, abs=0.3)


def test_partial_occlusion_raises_pressure_but_flow_continues():
    """A 100x partial occlusion keeps delivering at the rate, at 100x the pressure drop."""
    plant = Plant(BD50, seed=None)
    infuse(plant, 5.0, 600.0)
    plant.occlude(100.0)
    infuse(plant, 5.0, 3600.0)
    start_ul = plant.delivered_ul
    infuse(plant, 5.0, 1800.0)
    assert (plant.delivered_ul - start_ul) * 2 / 1000.0 == pytest.approx(5.0, rel=0.02)
    expected = VENOUS_MMHG + 5000.0 / 3600.0 * line_resistance_from_data() * 100
    assert plant.pressure_mmhg == pytest.approx(expected, rel=0.05)


# --- friction ------------------------------------------------------------------------


def flow_and_force_ripple(rate_ml_h, seed):
    """Relative SD of 5 s flows and peak-to-peak force over 20 min after 30 min settling."""
    plant = Plant(BD50, seed=seed)
    infuse(plant, rate_ml_h, 1800.0)
    flows, forces = [], []
    for _ in range(240):
        start_ul = plant.delivered_ul
        infuse(plant, rate_ml_h, 5.0, on_tick=lambda p: forces.append(p.force_n))
        flows.append((plant.delivered_ul - start_ul) * 720.0 / 1000.0)
    return statistics.pstdev(flows) / rate_ml_h, max(forces) - min(forces)


def test_stick_slip_ripple_is_strong_at_low_speed_and_fades_at_high_speed():
    """Stick-slip makes 0.5 mL/h flow and force ripple far more than 5 mL/h."""
    for seed in (1, 2):
        slow_flow, slow_force = flow_and_force_ripple(0.5, seed)
        fast_flow, fast_force = flow_and_force_ripple(5.0, seed)
        assert slow_flow > 3 * fast_flow
        assert slow_force > 2 * fast_force


def test_force_is_pressure_times_area_plus_friction():
    """While sliding, force = P A + glide friction, with friction a few newtons for a 50 mL syringe."""
    plant = Plant(BD50, seed=None)
    infuse(plant, 10.0, 600.0)
    friction_n = plant.force_n - load_syringe(BD50).force_n(plant.pressure_mmhg)
    assert friction_n == pytest.approx(DATA["plunger"]["glide_force_n"], rel=0.05)


def test_smaller_syringes_have_less_friction():
    """A BD 5 mL glides with less force than a BD 50 mL."""
    forces = {}
    for syringe_id in ("bd_plastipak_5", BD50):
        plant = Plant(syringe_id, seed=None)
        infuse(plant, 10.0 if syringe_id == BD50 else 1.0, 600.0)
        forces[syringe_id] = plant.force_n - plant.syringe.force_n(plant.pressure_mmhg)
    assert 0 < forces["bd_plastipak_5"] < forces[BD50]


def test_start_up_needs_the_breakaway_force():
    """Nothing reaches the patient until the rod force has built up to the breakaway force."""
    plant = Plant(BD50, seed=None)
    peak = [0.0]

    def watch(p):
        if p.delivered_ul == 0.0:
            peak[0] = max(peak[0], p.force_n)

    infuse(plant, 0.5, 900.0, on_tick=watch)
    breakaway_n = DATA["plunger"]["breakaway_force_n"]
    assert peak[0] > breakaway_n * 0.95
    assert plant.delivered_ul > 0


def test_seed_sets_the_syringe_and_repeats_exactly():
    """The same seed reproduces a run exactly; another seed gives another syringe."""
    runs = []
    for seed in (5, 5, 6):
        plant = Plant(BD50, seed=seed)
        infuse(plant, 1.0, 600.0)
        runs.append((plant.delivered_ul, plant.force_n))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


# --- occlusion and end of syringe -----------------------------------------------------


def test_full_occlusion_stops_delivery_and_stores_the_pushed_volume():
    """Under full occlusion nothing is delivered; every pushed microlitre is stored."""
    plant = Plant(BD50, seed=7)
    infuse(plant, 5.0, 600.0)
    plant.occlude()
    delivered_ul, pushed_ul, stored_ul = plant.delivered_ul, plant.pushed_ul, plant.stored_ul
    infuse(plant, 5.0, 600.0)
    assert plant.delivered_ul == delivered_ul
    assert plant.stored_ul - stored_ul == pytest.approx(plant.pushed_ul - pushed_ul)
    assert plant.pressure_mmhg > 100


def test_end_of_syringe_stops_delivery_and_force_rises_steeply():
    """Past the stopper's end nothing more is delivered, the end switch is on and force climbs."""
    fill_ul = 2000.0
    plant = Plant(BD50, fill_ul=fill_ul, seed=8)
    infuse(plant, 50.0, 150.0)  # about 2.08 mL of travel
    assert plant.at_end_stop
    glide_force_n = plant.force_n
    infuse(plant, 50.0, 60.0)
    assert plant.delivered_ul <= fill_ul + 1e-6
    assert plant.delivered_ul == pytest.approx(fill_ul, abs=1.0)
    assert plant.remaining_ul == pytest.approx(0.0, abs=1e-6)
    assert plant.force_n > 10 * glide_force_n


def test_end_switch_is_off_before_the_end():
    """The end-of-travel switch stays off while fluid remains."""
    plant = Plant(BD50, fill_ul=5000.0, seed=8)
    infuse(plant, 50.0, 60.0)
    assert not plant.at_end_stop
    assert plant.remaining_ul > 4000


# --- switches and free flow --------------------------------------------------------------


def test_disengaged_plunger_is_not_moved_by_the_drive():
    """With the clamp open and the syringe at patient level the drive pushes nothing."""
    plant = Plant(BD50, seed=9)
    infuse(plant, 5.0, 300.0)
    plant.disengage_plunger()
    assert not plant.plunger_engaged
    pushed_ul = plant.pushed_ul
    infuse(plant, 5.0, 600.0)
    assert plant.force_n == 0.0
    assert plant.pushed_ul == pytest.approx(pushed_ul, abs=1.0)


def test_disengaged_plunger_above_the_patient_siphons():
    """A free plunger 150 cm above the vein lets the syringe siphon into the patient, on and on."""
    plant = Plant(BD50, seed=9)
    plant.disengage_plunger()
    plant.set_syringe_height_cm(150.0)
    infuse(plant, 0.0, 300.0)
    start_ul = plant.delivered_ul
    infuse(plant, 0.0, 300.0)
    assert (plant.delivered_ul - start_ul) / 1000.0 * 12 > 10.0  # still faster than 10 mL/h
    assert_mass_balance(plant)


def test_engaged_plunger_above_the_patient_gives_a_bolus_then_stops():
    """The engaged clamp holds the plunger: raising the syringe 150 cm gives a bolus, not a siphon."""
    plant = Plant(BD50, seed=9)
    plant.set_syringe_height_cm(150.0)
    infuse(plant, 0.0, 300.0)
    bolus_ul = plant.delivered_ul
    infuse(plant, 0.0, 300.0)
    assert 0.0 < bolus_ul < 500.0
    assert plant.delivered_ul - bolus_ul < 1.0


def test_removed_syringe_switches_and_reinsertion():
    """Removing the syringe clears both switches; inserting a fresh one resets the end of travel."""
    plant = Plant(BD50, fill_ul=1000.0, seed=10)
    infuse(plant, 50.0, 90.0)
    plant.remove_syringe()
    assert not plant.syringe_present and not plant.plunger_engaged
    plant.insert_syringe(fill_ul=20000.0)
    assert plant.syringe_present and plant.plunger_engaged
    assert plant.remaining_ul == pytest.approx(20000.0)
    infuse(plant, 50.0, 60.0)
    assert_mass_balance(plant)
    assert not plant.at_end_stop


# --- numerics ------------------------------------------------------------------------


def test_stiff_line_is_stable_at_the_control_tick():
    """A line 1000x stiffer than calibrated still settles to Pven + Q R without oscillating."""
    params = load_plant_params().with_compliance_scale(1e-3)
    plant = Plant(BD50, seed=None, params=params)
    pressures = []
    infuse(plant, 5.0, 600.0, on_tick=lambda p: pressures.append(p.pressure_mmhg))
    expected = VENOUS_MMHG + 5000.0 / 3600.0 * line_resistance_from_data()
    assert max(pressures[-1000:]) - min(pressures[-1000:]) < 1.0
    assert statistics.fmean(pressures[-1000:]) == pytest.approx(expected, abs=0.5)


def test_delivery_does_not_depend_on_the_tick_length():
    """10 ms and 1 s ticks deliver the same volume as 100 ms ticks at a smooth rate."""
    delivered = []
    for tick_s in (0.01, 0.1, 1.0):
        plant = Plant(BD50, seed=None)
        infuse(plant, 20.0, 300.0, tick_s=tick_s)
        delivered.append(plant.delivered_ul)
    assert max(delivered) - min(delivered) < 0.01 * delivered[1]


@given(
    excess_ul=st.floats(-50.0, 500.0),
    inflow_ul_s=st.floats(-20.0, 20.0),
    dt_s=st.floats(0.001, 100.0),
    tau_s=st.floats(0.01, 1000.0),
)
def test_line_update_composes_over_split_ticks(excess_ul, inflow_ul_s, dt_s, tau_s):
    """The exact line update over dt equals two updates over dt/2 (true of the exact solution only)."""
    whole = line_excess_after(excess_ul, inflow_ul_s, dt_s, tau_s)
    half = line_excess_after(line_excess_after(excess_ul, inflow_ul_s, dt_s / 2, tau_s), inflow_ul_s, dt_s / 2, tau_s)
    assert whole == pytest.approx(half, rel=1e-6, abs=1e-6)


def test_line_update_matches_fine_integration():
    """The exact update agrees with a fine Euler integration of x' = u - x/tau (valve closed below 0)."""
    for x0, u, tau in ((100.0, 1.0, 2.0), (50.0, -40.0, 5.0), (-10.0, 3.0, 1.5)):
        x, h = x0, 1e-5
        for _ in range(int(4.0 / h)):
            x += h * (u - (x / tau if x > 0 else 0.0))
        assert line_excess_after(x0, u, 4.0, tau) == pytest.approx(x, abs=1e-3)


@given(pressure_mmhg=st.floats(-700.0, 1500.0))
def test_compliance_curve_inverts(pressure_mmhg):
    """volume_ul and pressure_mmhg of the compliance curve are inverses."""
    curve = LineCompliance(2.97, 1188.0, 0.1)
    assert curve.pressure_mmhg(curve.volume_ul(pressure_mmhg)) == pytest.approx(pressure_mmhg, abs=1e-6)


def test_compliance_tangent_is_the_slope_and_stiffens():
    """The tangent compliance is dV/dP of the curve and falls as pressure rises."""
    curve = LineCompliance(2.97, 1188.0, 0.1)
    tangents = []
    for p in (10.0, 200.0, 500.0):
        v, dv = curve.volume_ul(p), 1e-3
        slope = 2 * dv / (curve.pressure_mmhg(v + dv) - curve.pressure_mmhg(v - dv))
        assert curve.tangent_ul_per_mmhg(v) == pytest.approx(slope, rel=1e-5)
        tangents.append(slope)
    assert tangents[0] > tangents[1] > tangents[2] > 0.1


# --- properties over scenario sequences ----------------------------------------------------

run_action = st.tuples(st.just("run"), st.integers(-60, 400), st.integers(1, 200), st.sampled_from([0.1, 1.0, 7.0]))
scenario_actions = st.lists(
    st.one_of(
        run_action,
        run_action,
        st.tuples(st.just("occlude"), st.sampled_from([math.inf, 3.0, 200.0])),
        st.just(("release",)),
        st.just(("disengage",)),
        st.just(("engage",)),
        st.tuples(st.just("height"), st.floats(-80.0, 150.0)),
        st.just(("remove",)),
        st.tuples(st.just("insert"), st.sampled_from([None, 2000.0, 50000.0])),
    ),
    max_size=15,
)


def play(plant, actions, check):
    steps = 0
    for action in actions:
        kind = action[0]
        if kind == "run":
            _, steps_per_tick, ticks, tick_s = action
            for _ in range(ticks):
                steps += steps_per_tick
                plant.advance(plant.t_s + tick_s, steps)
                check(plant)
        elif kind == "occlude":
            plant.occlude(action[1])
        elif kind == "release":
            plant.release_occlusion()
        elif kind == "disengage":
            plant.disengage_plunger()
        elif kind == "engage":
            plant.engage_plunger()
        elif kind == "height":
            plant.set_syringe_height_cm(action[1])
        elif kind == "remove":
            plant.remove_syringe()
        elif kind == "insert":
            plant.insert_syringe(action[1])


@settings(max_examples=60, deadline=None)
@given(actions=scenario_actions, seed=st.integers(0, 1000))
def test_mass_balance_and_monotone_delivery_in_any_scenario(actions, seed):
    """Whatever a scenario does, pushed = delivered + stored and delivery never runs backwards."""
    plant = Plant(BD50, seed=seed)
    last = [0.0]

    def check(p):
        assert_mass_balance(p)
        assert p.delivered_ul >= last[0]
        last[0] = p.delivered_ul

    play(plant, actions, check)


forward_actions = st.lists(
    st.one_of(
        st.tuples(st.just("run"), st.integers(0, 400), st.integers(1, 200), st.sampled_from([0.1, 1.0, 7.0])),
        st.tuples(st.just("occlude"), st.sampled_from([math.inf, 3.0, 200.0])),
        st.just(("release",)),
    ),
    max_size=15,
)


@settings(max_examples=60, deadline=None)
@given(actions=forward_actions, seed=st.integers(0, 1000), syringe_id=st.sampled_from(["bd_plastipak_5", "terumo_20", BD50]))
def test_delivered_never_exceeds_pushed_when_the_drive_only_moves_forward(actions, seed, syringe_id):
    """With a forward-only drive, delivered volume is monotone and never above the pushed volume."""
    plant = Plant(syringe_id, seed=seed)
    last = [0.0]

    def check(p):
        assert p.delivered_ul <= p.pushed_ul + 1e-9
        assert p.delivered_ul >= last[0]
        last[0] = p.delivered_ul

    play(plant, actions, check)


# --- errors for people -----------------------------------------------------------------


def test_time_cannot_run_backwards():
    """advance() with an earlier time is refused with the two times in the message."""
    plant = Plant(BD50)
    plant.advance(1.0, 0)
    with pytest.raises(ValueError, match="0.5 s after 1.0 s"):
        plant.advance(0.5, 0)


def test_bad_settings_are_refused():
    """Overfilling, an occlusion factor below 1 and an absurd venous pressure are refused."""
    with pytest.raises(ValueError, match="outside 0-50000"):
        Plant(BD50, fill_ul=60000.0)
    plant = Plant(BD50)
    with pytest.raises(ValueError, match="factor > 1"):
        plant.occlude(0.5)
    with pytest.raises(ValueError, match="physiological"):
        plant.set_venous_pressure_mmhg(200.0)


def test_unphysical_parameters_are_refused():
    """Parameters that must be positive, and a breakaway below the glide force, are refused."""
    params = load_plant_params()
    fields = dict(vars(params))
    with pytest.raises(ValueError, match="stiction_dwell_s is 0.0"):
        type(params)(**{**fields, "stiction_dwell_s": 0.0})
    with pytest.raises(ValueError, match="breakaway_force_n"):
        type(params)(**{**fields, "breakaway_force_n": 1.0})
