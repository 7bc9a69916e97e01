"""Tests for sim.patient: vitals and dissociation responses, scenario episodes, population."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.patient import (
    Episode, Patient, Vitals, population_table, sample, sample_profiles, typical,
)

DOSE_UG_KG = 500.0
INFUSION_MIN = 40.0


def standard_rate_ug_min(patient):
    return DOSE_UG_KG * patient.profile.weight_kg / INFUSION_MIN


def run_standard_session(patient, total_min=160, dt_min=1.0):
    """Advance through 0.5 mg/kg over 40 min; return (t_min, true vitals, dissociation, Ce)."""
    rate = standard_rate_ug_min(patient)
    rows = []
    for step in range(int(total_min / dt_min)):
        t_start = step * dt_min
        patient.advance(dt_min, rate if t_start < INFUSION_MIN else 0.0)
        rows.append((patient.t_min, patient.true_vitals, patient.dissociation, patient.ce_ng_ml))
    return rows


def peak_rises(patient):
    baseline = patient.true_vitals
    rows = run_standard_session(patient, total_min=70)
    return (
        max(v.sbp_mmhg for _, v, _, _ in rows) - baseline.sbp_mmhg,
        max(v.dbp_mmhg for _, v, _, _ in rows) - baseline.dbp_mmhg,
        max(v.hr_bpm for _, v, _, _ in rows) - baseline.hr_bpm,
        max(v.sbp_mmhg for _, v, _, _ in rows) > 180 or max(v.dbp_mmhg for _, v, _, _ in rows) > 110,
    )


@pytest.fixture(scope="module")
def population_peaks():
    """Peak rises for 300 sampled patients on the standard dose."""
    return np.array([peak_rises(p) for p in sample(300, seed=2026)])


def test_same_seed_same_patients_and_readings():
    """sample() with the same seed gives the same records and the same noisy readings."""
    first, second = sample(25, seed=11), sample(25, seed=11)
    assert [p.profile for p in first] == [p.profile for p in second]
    for a, b in zip(first[:5], second[:5]):
        a.advance(30.0, standard_rate_ug_min(a))
        b.advance(30.0, standard_rate_ug_min(b))
        assert [a.vitals() for _ in range(5)] == [b.vitals() for _ in range(5)]


def test_different_seeds_differ():
    """Different seeds give different patients."""
    assert [p.profile for p in sample(10, seed=1)] != [p.profile for p in sample(10, seed=2)]


def test_sample_prefix_is_stable():
    """The first patients of a seed do not depend on how many are drawn after them."""
    assert sample_profiles(5, seed=3) == sample_profiles(40, seed=3)[:5]


def test_sample_pk_model_choice():
    """Sampled patients use the table's PK model unless another is named."""
    assert {p.pk_model for p in sample_profiles(5, seed=3)} == {population_table()["pk_model"]}
    assert {p.pk.params.name for p in sample(5, seed=3, pk_model="domino")} == {"domino"}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_sampled_records_within_table_bounds(seed):
    """Weights, ages and baselines stay inside the population table's bounds."""
    table = population_table()
    for p in sample_profiles(40, seed):
        assert table["weight_kg"]["min"] <= p.weight_kg <= table["weight_kg"]["max"]
        assert table["age_years"]["min"] <= p.age_years <= table["age_years"]["max"]
        group = table["baseline"]["hypertensive" if p.hypertensive else "normotensive"]
        assert group["sbp_mmhg"]["min"] <= p.baseline_sbp_mmhg <= group["sbp_mmhg"]["max"]
        assert group["dbp_mmhg"]["min"] <= p.baseline_dbp_mmhg <= group["dbp_mmhg"]["max"]
        assert p.baseline_spo2_pct <= 100.0
        assert p.sbp_rise_mmhg_per_ng_ml > 0 and p.dbp_rise_mmhg_per_ng_ml > 0


def test_no_drug_vitals_stay_at_baseline():
    """Without drug the true vitals equal the baseline and readings scatter around it."""
    patient = sample(1, seed=5)[0]
    p = patient.profile
    readings = []
    for _ in range(400):
        patient.advance(0.25, 0.0)
        assert patient.true_vitals == Vitals(p.baseline_sbp_mmhg, p.baseline_dbp_mmhg,
                                             p.baseline_hr_bpm, p.baseline_spo2_pct)
        readings.append(patient.vitals())
    sbp = np.array([r.sbp_mmhg for r in readings])
    hr = np.array([r.hr_bpm for r in readings])
    assert abs(sbp.mean() - p.baseline_sbp_mmhg) < 4 * p.sbp_noise_mmhg / np.sqrt(400)
    assert abs(hr.mean() - p.baseline_hr_bpm) < 4 * p.hr_noise_bpm / np.sqrt(400)
    assert 0.7 * p.sbp_noise_mmhg < sbp.std() < 1.3 * p.sbp_noise_mmhg
    assert patient.dissociation == 0.0


def test_bp_peaks_near_end_of_infusion_and_returns_within_90_min():
    """SBP peaks within minutes of the end of a 40 min infusion and is back by ~1.5 h after."""
    patient = typical(weight_kg=70)
    baseline = patient.true_vitals.sbp_mmhg
    rows = run_standard_session(patient, dt_min=1 / 6)
    rise = {round(t, 3): v.sbp_mmhg - baseline for t, v, _, _ in rows}
    t_peak, peak = max(rise.items(), key=lambda item: item[1])
    assert INFUSION_MIN - 2 <= t_peak <= INFUSION_MIN + 6
    assert peak > 3.0
    assert 0.1 * peak < rise[70.0] < 0.9 * peak  # decays gradually, not at once
    assert rise[INFUSION_MIN + 90] < 0.05 * peak


def test_population_mean_peak_rise_in_reported_range(population_peaks):
    """Mean peak rise for 0.5 mg/kg/40 min is within +3/+3 .. +16/+11 mmHg, HR a few bpm."""
    sbp, dbp, hr = population_peaks[:, 0], population_peaks[:, 1], population_peaks[:, 2]
    assert 3.0 <= sbp.mean() <= 16.0
    assert 3.0 <= dbp.mean() <= 11.0
    assert 1.0 <= hr.mean() <= 10.0
    # Reported SDs of measured change are ~11/8.5 mmHg; true responses spread less.
    assert 4.0 <= sbp.std() <= 12.0
    assert 3.0 <= dbp.std() <= 9.0


def test_severe_hypertension_is_rare(population_peaks):
    """Peaks above 180/110 happen in a few percent of sessions at most, not never-by-design."""
    severe_fraction = population_peaks[:, 3].mean()
    assert severe_fraction <= 0.04
    assert population_peaks[:, 0].max() > 25.0


def test_older_and_hypertensive_patients_respond_more():
    """Older and hypertensive patients have larger BP sensitivities on average."""
    profiles = sample_profiles(4000, seed=8)
    slope = np.array([p.sbp_rise_mmhg_per_ng_ml for p in profiles])
    age = np.array([p.age_years for p in profiles])
    hypertensive = np.array([p.hypertensive for p in profiles])
    young_normal = (age < 40) & ~hypertensive
    old_normal = (age >= 60) & ~hypertensive
    assert slope[old_normal].mean() > 1.2 * slope[young_normal].mean()
    assert slope[hypertensive].mean() > 1.2 * slope[~hypertensive].mean()
    assert hypertensive[age >= 60].mean() > hypertensive[age < 40].mean()


def test_hypertension_episode_offsets_applied():
    """An episode adds its offsets inside its window, ramps at the edges, nothing outside."""
    with_episode, without = typical(weight_kg=70), typical(weight_kg=70)
    with_episode.add_hypertension_episode(20.0, 15.0, sbp_mmhg=70.0, dbp_mmhg=40.0, hr_bpm=10.0)
    rate = standard_rate_ug_min(without)
    for t_min in np.arange(0.0, 40.0, 0.25):
        with_episode.advance(0.25, rate)
        without.advance(0.25, rate)
        a, b = with_episode.true_vitals, without.true_vitals
        now = with_episode.t_min
        expected = Episode(20.0, 15.0).fraction_at(now)
        if 21.0 <= now < 34.0:
            assert expected == 1.0
        assert a.sbp_mmhg - b.sbp_mmhg == pytest.approx(70.0 * expected)
        assert a.dbp_mmhg - b.dbp_mmhg == pytest.approx(40.0 * expected)
        assert a.hr_bpm - b.hr_bpm == pytest.approx(10.0 * expected)
        if now < 20.0 or now >= 35.0:
            assert a == b
    assert Episode(20.0, 15.0).fraction_at(20.5) == pytest.approx(0.5)


def test_hypertension_episode_crosses_clinic_pause_thresholds():
    """A +70/+40 episode on a typical patient crosses SBP > 180 and DBP > 110."""
    patient = typical(weight_kg=70)
    patient.add_hypertension_episode(20.0, 15.0, sbp_mmhg=70.0, dbp_mmhg=40.0)
    patient.advance(27.0, standard_rate_ug_min(patient))
    assert patient.true_vitals.sbp_mmhg > 180 and patient.true_vitals.dbp_mmhg > 110


def test_desaturation_lowers_spo2_only_in_its_window():
    """A forced desaturation lowers SpO2 by its drop; otherwise SpO2 stays near baseline."""
    patient = typical(weight_kg=70)
    baseline = patient.true_vitals.spo2_pct
    patient.add_desaturation(10.0, 5.0, drop_pct=12.0, ramp_min=0.0)
    patient.advance(9.0, standard_rate_ug_min(patient))
    assert patient.true_vitals.spo2_pct == baseline
    patient.advance(3.0, standard_rate_ug_min(patient))
    assert patient.true_vitals.spo2_pct == pytest.approx(baseline - 12.0)
    assert patient.vitals().spo2_pct < 90.0
    patient.advance(5.0, standard_rate_ug_min(patient))
    assert patient.true_vitals.spo2_pct == baseline
    assert all(patient.vitals().spo2_pct <= 100.0 for _ in range(200))


def test_dissociation_tracks_ce_and_fades_within_an_hour():
    """Dissociation rises with Ce (linear over 50-200 ng/mL) and fades within ~60 min."""
    patient = typical(weight_kg=70)
    rows = run_standard_session(patient, dt_min=0.5)
    in_band = [(ce, d) for _, _, d, ce in rows if 80.0 <= ce <= 200.0]
    ce, score = np.array(in_band).T
    slope, intercept = np.polyfit(ce, score, 1)
    assert np.max(np.abs(score - (slope * ce + intercept))) < 1e-6 * score.max()
    assert slope > 0
    peak = max(d for _, _, d, _ in rows)
    t_peak = next(t for t, _, d, _ in rows if d == peak)
    assert INFUSION_MIN - 2 <= t_peak <= INFUSION_MIN + 6
    at_60_after = next(d for t, _, d, _ in rows if t >= INFUSION_MIN + 60)
    assert at_60_after < 0.25 * peak
    assert rows[-1][2] == 0.0


@settings(max_examples=30, deadline=None)
@given(
    program=st.lists(st.tuples(st.floats(0.05, 20.0), st.floats(0.0, 3000.0)), min_size=1,
                     max_size=10),
    seed=st.integers(0, 1000),
)
def test_bp_never_below_baseline_without_episodes(program, seed):
    """For any pump program the drug only raises BP, and dissociation grows with Ce."""
    patient = sample(1, seed)[0]
    baseline = patient.true_vitals
    seen = []
    for dt_min, rate_ug_min in program:
        patient.advance(dt_min, rate_ug_min)
        assert patient.true_vitals.sbp_mmhg >= baseline.sbp_mmhg
        assert patient.true_vitals.dbp_mmhg >= baseline.dbp_mmhg
        seen.append((patient.ce_ng_ml, patient.dissociation))
    seen.sort()
    assert all(d0 <= d1 for (_, d0), (_, d1) in zip(seen, seen[1:]))


def test_explicit_rng_gives_reproducible_readings_without_touching_own_noise():
    """vitals(rng) is reproducible from the rng and leaves the patient's own stream alone."""
    a, b = typical(weight_kg=70, noise_seed=4), typical(weight_kg=70, noise_seed=4)
    first = [a.vitals(np.random.default_rng(9)) for _ in range(3)]
    assert first == [b.vitals(np.random.default_rng(9)) for _ in range(3)]
    assert a.vitals() == b.vitals()


def test_invalid_records_rejected():
    """Out-of-range weights, unknown PK models and bad episodes are refused with a ValueError."""
    profile = typical().profile
    with pytest.raises(ValueError, match="weight_kg"):
        dataclasses.replace(profile, weight_kg=5.0)
    with pytest.raises(ValueError, match="Known models"):
        Patient(dataclasses.replace(profile, pk_model="marsh"))
    with pytest.raises(ValueError, match="duration_min"):
        Episode(10.0, 0.0)
    with pytest.raises(ValueError, match="n is"):
        sample(-1, seed=0)
    with pytest.raises(ValueError, match="seed is"):
        sample(3, seed=-2)
