"""The virtual patient: ketamine in the body, and what the monitor and the clinician see.

A patient is a record (weight, age, baseline vitals, how strongly they respond) plus a
pharmacokinetic model. Responses are driven by the effect-site concentration Ce:

- blood pressure rises in proportion to Ce above an apparent threshold, so it peaks just
  after the end of a 40 min infusion and is back at baseline about 1.5 h later while
  some drug is still circulating;
- heart rate rises a few bpm the same way;
- a CADSS-like dissociation score is linear in Ce over 50-200 ng/mL and fades within
  about an hour of the end;
- SpO2 stays at baseline (ketamine preserves breathing) unless a scenario forces a
  desaturation.

Example: a typical 70 kg patient on 0.5 mg/kg over 40 min (875 ug/min)::

    patient = typical(weight_kg=70)
    for _ in range(40 * 6):
        patient.advance(1 / 6, rate_ug_min=875.0)
    patient.true_vitals.sbp_mmhg     # baseline + ~7 mmHg
    patient.vitals()                 # the same, with seeded measurement noise

A scenario can add episodes on top of the drug response, e.g. a hypertensive reaction
of +70/+40 mmHg from minute 20 for 15 min, which crosses the clinic pause thresholds
(SBP > 180 or DBP > 110). The population sampler draws patients from the distributions in
sim/data/patient_population.json (or a table a campaign derives from it); the same seed gives
the same patients, and patient i of a seed is the same whatever else is drawn. Each sampled
patient also has a sex and height (hence ideal and adjusted body weights) and their own PK:
log-normal deviations of clearance and volumes, correlated as the table says (sim/pk.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import ndtr, ndtri

from sim.pk import TYPICAL, PKIndividual, PKModel, adjusted_body_weight_kg, body_mass_index, ideal_body_weight_kg

POPULATION_PATH = Path(__file__).parent / "data" / "patient_population.json"


@lru_cache(maxsize=None)
def population_table() -> dict:
    """The population distributions (read once)."""
    return json.loads(POPULATION_PATH.read_text())


@dataclass(frozen=True)
class Vitals:
    """One set of vital signs."""

    sbp_mmhg: float
    dbp_mmhg: float
    hr_bpm: float
    spo2_pct: float


SEXES = ("female", "male")


@dataclass(frozen=True)
class PatientProfile:
    """Who the patient is: body, baselines, sensitivities and measurement noise."""

    weight_kg: float
    age_years: float
    pk_model: str
    hypertensive: bool
    baseline_sbp_mmhg: float
    baseline_dbp_mmhg: float
    baseline_hr_bpm: float
    baseline_spo2_pct: float
    sbp_rise_mmhg_per_ng_ml: float
    dbp_rise_mmhg_per_ng_ml: float
    hr_rise_bpm_per_ng_ml: float
    dissociation_per_ng_ml: float
    bp_threshold_ng_ml: float
    dissociation_threshold_ng_ml: float
    dissociation_max: float
    sbp_noise_mmhg: float
    dbp_noise_mmhg: float
    hr_noise_bpm: float
    spo2_noise_pct: float
    noise_seed: int
    sex: str = "male"
    height_cm: float = 175.0
    pk_individual: PKIndividual = TYPICAL

    def __post_init__(self) -> None:
        _check_range("weight_kg", self.weight_kg, 20.0, 300.0, "body weight in kg")
        _check_range("height_cm", self.height_cm, 100.0, 250.0, "height in cm")
        if self.sex not in SEXES:
            raise ValueError(f"Patient: sex is {self.sex!r}; allowed {', '.join(SEXES)}.")
        _check_range("age_years", self.age_years, 0.0, 120.0, "age in years")
        _check_range("baseline_spo2_pct", self.baseline_spo2_pct, 50.0, 100.0, "SpO2 in %")
        for name in ("sbp_noise_mmhg", "dbp_noise_mmhg", "hr_noise_bpm", "spo2_noise_pct",
                     "bp_threshold_ng_ml", "dissociation_threshold_ng_ml"):
            _check_range(name, getattr(self, name), 0.0, math.inf, "a value >= 0")

    @property
    def ideal_weight_kg(self) -> float:
        return ideal_body_weight_kg(self.height_cm, self.sex)

    @property
    def adjusted_weight_kg(self) -> float:
        return adjusted_body_weight_kg(self.weight_kg, self.ideal_weight_kg)

    @property
    def bmi(self) -> float:
        return body_mass_index(self.weight_kg, self.height_cm)


@dataclass(frozen=True)
class Episode:
    """Offsets a scenario adds to the vitals over [start_min, start_min + duration_min).

    The offsets ramp in and out linearly over ramp_min at each end (a hypertensive surge
    builds over a minute or so rather than jumping).
    """

    start_min: float
    duration_min: float
    sbp_mmhg: float = 0.0
    dbp_mmhg: float = 0.0
    hr_bpm: float = 0.0
    spo2_pct: float = 0.0
    ramp_min: float = 1.0

    def __post_init__(self) -> None:
        _check_range("start_min", self.start_min, 0.0, math.inf, "minutes from the start")
        _check_range("duration_min", self.duration_min, 1e-9, math.inf, "minutes, > 0")
        _check_range("ramp_min", self.ramp_min, 0.0, math.inf, "minutes, >= 0")

    def fraction_at(self, t_min: float) -> float:
        """How much of the offset applies at t_min (0..1)."""
        end_min = self.start_min + self.duration_min
        if not self.start_min <= t_min < end_min:
            return 0.0
        if self.ramp_min == 0:
            return 1.0
        return min(1.0, (t_min - self.start_min) / self.ramp_min, (end_min - t_min) / self.ramp_min)


@dataclass
class Patient:
    """A profile plus its PK state, advanced by the runner one constant-rate interval at a time."""

    profile: PatientProfile
    episodes: list[Episode] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pk = PKModel.from_name(self.profile.pk_model, self.profile.weight_kg, self.profile.pk_individual)
        self._rng = np.random.default_rng(self.profile.noise_seed)

    @property
    def t_min(self) -> float:
        """Time advanced so far."""
        return self.pk.t_min

    def advance(self, dt_min: float, rate_ug_min: float) -> None:
        """Advance dt_min minutes while the pump delivers rate_ug_min into a vein."""
        self.pk.advance(dt_min, rate_ug_min)

    # -- responses ---------------------------------------------------------------------
    @property
    def ce_ng_ml(self) -> float:
        """Effect-site concentration."""
        return self.pk.ce_ng_ml

    @property
    def cp_ng_ml(self) -> float:
        """Plasma concentration."""
        return self.pk.cp_ng_ml

    @property
    def dissociation(self) -> float:
        """CADSS-like dissociation score (0 = none)."""
        p = self.profile
        score = p.dissociation_per_ng_ml * max(0.0, self.ce_ng_ml - p.dissociation_threshold_ng_ml)
        return min(p.dissociation_max, score)

    @property
    def true_vitals(self) -> Vitals:
        """Noise-free vitals now: baseline + drug response + scenario episodes."""
        p = self.profile
        drive_ng_ml = max(0.0, self.ce_ng_ml - p.bp_threshold_ng_ml)
        sbp, dbp, hr, spo2 = self._episode_offsets()
        return Vitals(
            sbp_mmhg=p.baseline_sbp_mmhg + p.sbp_rise_mmhg_per_ng_ml * drive_ng_ml + sbp,
            dbp_mmhg=p.baseline_dbp_mmhg + p.dbp_rise_mmhg_per_ng_ml * drive_ng_ml + dbp,
            hr_bpm=p.baseline_hr_bpm + p.hr_rise_bpm_per_ng_ml * drive_ng_ml + hr,
            spo2_pct=min(100.0, max(0.0, p.baseline_spo2_pct + spo2)),
        )

    def vitals(self, rng: np.random.Generator | None = None) -> Vitals:
        """Measured vitals: true values plus noise (the patient's own seeded noise by default)."""
        rng = self._rng if rng is None else rng
        p = self.profile
        true = self.true_vitals
        noise = rng.standard_normal(4)
        return Vitals(
            sbp_mmhg=true.sbp_mmhg + p.sbp_noise_mmhg * noise[0],
            dbp_mmhg=true.dbp_mmhg + p.dbp_noise_mmhg * noise[1],
            hr_bpm=true.hr_bpm + p.hr_noise_bpm * noise[2],
            spo2_pct=min(100.0, max(0.0, true.spo2_pct + p.spo2_noise_pct * noise[3])),
        )

    # -- scenario hooks ----------------------------------------------------------------
    def add_episode(self, episode: Episode) -> None:
        """Add scenario offsets to the vitals (see Episode)."""
        self.episodes.append(episode)

    def add_hypertension_episode(self, start_min: float, duration_min: float, sbp_mmhg: float,
                                 dbp_mmhg: float, hr_bpm: float = 0.0, ramp_min: float = 1.0) -> None:
        """Raise BP (and optionally HR) by the given offsets from start_min for duration_min."""
        self.add_episode(Episode(start_min, duration_min, sbp_mmhg=sbp_mmhg, dbp_mmhg=dbp_mmhg,
                                 hr_bpm=hr_bpm, ramp_min=ramp_min))

    def add_desaturation(self, start_min: float, duration_min: float, drop_pct: float,
                         ramp_min: float = 1.0) -> None:
        """Lower SpO2 by drop_pct from start_min for duration_min."""
        _check_range("drop_pct", drop_pct, 0.0, 100.0, "percentage points of SpO2")
        self.add_episode(Episode(start_min, duration_min, spo2_pct=-drop_pct, ramp_min=ramp_min))

    def _episode_offsets(self) -> tuple[float, float, float, float]:
        sbp = dbp = hr = spo2 = 0.0
        for episode in self.episodes:
            f = episode.fraction_at(self.t_min)
            if f:
                sbp += f * episode.sbp_mmhg
                dbp += f * episode.dbp_mmhg
                hr += f * episode.hr_bpm
                spo2 += f * episode.spo2_pct
        return sbp, dbp, hr, spo2


# -- population ------------------------------------------------------------------------
def sample(n: int, seed: int, pk_model: str | None = None, table: dict | None = None) -> list[Patient]:
    """Draw n patients from the population table; the same seed gives the same patients."""
    return [Patient(profile) for profile in sample_profiles(n, seed, pk_model, table)]


def sample_profiles(n: int, seed: int, pk_model: str | None = None, table: dict | None = None) -> list[PatientProfile]:
    """Draw n patient records (see sample)."""
    if not (isinstance(n, (int, np.integer)) and n >= 0):
        raise ValueError(f"Population sample: n is {n!r}; it must be a whole number >= 0.")
    return profiles_at(range(n), seed, pk_model, table)


def profiles_at(indices, seed: int, pk_model: str | None = None, table: dict | None = None) -> list[PatientProfile]:
    """Patient records number `indices` of the population drawn with `seed` (patient i is the
    same whichever others are drawn with it); `table` replaces the shipped population table."""
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise ValueError(f"Population sample: seed is {seed!r}; it must be a whole number >= 0.")
    indices = list(indices)
    table = population_table() if table is None else table
    u, noise_seeds = _uniform_draws(seed, indices)
    weight_kg = _truncated_normal(u["weight"], table["weight_kg"])
    age_years = _truncated_normal(u["age"], table["age_years"])
    hypertensive = u["hypertension"] < _hypertension_prevalence(table, age_years)
    baseline = _baselines(u, table["baseline"], hypertensive)
    response = _responses(u, table["response"], age_years, hypertensive)
    female = u["sex"] < table["sex"]["female_fraction"]
    height_cm = np.where(female, _truncated_normal(u["height"], table["height_cm"]["female"]),
                         _truncated_normal(u["height"], table["height_cm"]["male"]))
    etas = _pk_etas(u, table["pk_variability"])
    return [
        _profile(table, pk_model, i, weight_kg, age_years, hypertensive, baseline, response, noise_seeds[i],
                 "female" if female[i] else "male", float(height_cm[i]), {k: float(v[i]) for k, v in etas.items()})
        for i in range(len(indices))
    ]


def typical(weight_kg: float = 70.0, pk_model: str | None = None, noise_seed: int = 0,
            age_years: float | None = None) -> Patient:
    """A normotensive patient with the population's central values (the standard scenario)."""
    table = population_table()
    base = table["baseline"]
    resp = table["response"]
    age = table["age_years"]["mean"] if age_years is None else age_years
    sbp_rise = resp["sbp_rise_mmhg_per_ng_ml"]["median"] * _age_factor(resp, np.array([age]))[0]
    profile = PatientProfile(
        weight_kg=weight_kg,
        age_years=age,
        pk_model=pk_model or table["pk_model"],
        hypertensive=False,
        baseline_sbp_mmhg=base["normotensive"]["sbp_mmhg"]["mean"],
        baseline_dbp_mmhg=base["normotensive"]["dbp_mmhg"]["mean"],
        baseline_hr_bpm=base["hr_bpm"]["mean"],
        baseline_spo2_pct=base["spo2_pct"]["mean"],
        sbp_rise_mmhg_per_ng_ml=sbp_rise,
        dbp_rise_mmhg_per_ng_ml=sbp_rise * resp["dbp_to_sbp_rise_ratio"]["median"],
        hr_rise_bpm_per_ng_ml=resp["hr_rise_bpm_per_ng_ml"]["mean"],
        dissociation_per_ng_ml=resp["dissociation_per_ng_ml"]["median"],
        **_shared_fields(table),
        noise_seed=noise_seed,
    )
    return Patient(profile)


def _profile(table, pk_model, i, weight_kg, age_years, hypertensive, baseline, response,
             noise_seed, sex, height_cm, etas) -> PatientProfile:
    pk = table["pk_variability"]
    size_weight = None
    if pk["obese_size_weight"] == "adjusted" and weight_kg[i] / (height_cm / 100.0) ** 2 >= pk["obese_bmi"]:
        size_weight = adjusted_body_weight_kg(float(weight_kg[i]), ideal_body_weight_kg(height_cm, sex))
    return PatientProfile(
        weight_kg=float(weight_kg[i]),
        age_years=float(age_years[i]),
        pk_model=pk_model or table["pk_model"],
        hypertensive=bool(hypertensive[i]),
        **{name: float(values[i]) for name, values in baseline.items()},
        **{name: float(values[i]) for name, values in response.items()},
        **_shared_fields(table),
        noise_seed=noise_seed,
        sex=sex,
        height_cm=height_cm,
        pk_individual=PKIndividual(**etas, allometric=bool(pk["allometric_clearance"]), size_weight_kg=size_weight),
    )


def _shared_fields(table: dict) -> dict:
    resp, noise = table["response"], table["noise"]
    return dict(
        bp_threshold_ng_ml=resp["bp_threshold_ng_ml"],
        dissociation_threshold_ng_ml=resp["dissociation_threshold_ng_ml"],
        dissociation_max=resp["dissociation_max"],
        sbp_noise_mmhg=noise["sbp_mmhg"],
        dbp_noise_mmhg=noise["dbp_mmhg"],
        hr_noise_bpm=noise["hr_bpm"],
        spo2_noise_pct=noise["spo2_pct"],
    )


# One uniform draw per patient and quantity. Each patient has its own random stream,
# seeded from (seed, index), so patient i is the same whatever n is drawn. The body and PK
# draws come after the noise seed, so the patients drawn before they existed are unchanged.
_DRAW_NAMES = ("weight", "age", "hypertension", "sbp_normal", "sbp_high", "dbp_normal",
               "dbp_high", "hr", "spo2", "sbp_rise", "dbp_ratio", "hr_rise", "dissociation")
_BODY_DRAW_NAMES = ("sex", "height", "eta_cl", "eta_v1", "eta_v2", "eta_v3")
PK_ETAS = ("cl", "v1", "v2", "v3")


def _uniform_draws(seed: int, indices: list[int]) -> tuple[dict[str, np.ndarray], list[int]]:
    names = _DRAW_NAMES + _BODY_DRAW_NAMES
    rows = np.empty((len(indices), len(names)))
    noise_seeds = []
    for row, i in enumerate(indices):
        rng = np.random.default_rng([int(seed), int(i)])
        rows[row, :len(_DRAW_NAMES)] = rng.random(len(_DRAW_NAMES))
        noise_seeds.append(int(rng.integers(0, 2**63 - 1)))
        rows[row, len(_DRAW_NAMES):] = rng.random(len(_BODY_DRAW_NAMES))
    # Keep the inverse CDFs finite.
    rows = np.clip(rows, 1e-12, 1.0 - 1e-12)
    return dict(zip(names, rows.T)), noise_seeds


def pk_covariance(pk: dict) -> np.ndarray:
    """Covariance of (eta_cl, eta_v1, eta_v2, eta_v3) from the table's SDs and correlations."""
    sd = np.array([pk["omega"][name] for name in PK_ETAS])
    corr = np.eye(len(PK_ETAS))
    for pair, r in pk["correlation"].items():
        a, b = (PK_ETAS.index(name) for name in pair.split("_"))
        corr[a, b] = corr[b, a] = r
    return corr * np.outer(sd, sd)


def _pk_etas(u: dict, pk: dict) -> dict[str, np.ndarray]:
    """Correlated normal deviations: independent normals through the Cholesky factor."""
    z = [ndtri(u[f"eta_{name}"]) for name in PK_ETAS]
    lower = np.linalg.cholesky(pk_covariance(pk))
    # Element by element, not a matrix product: BLAS sums in an order that depends on how
    # many patients are drawn together, and patient i must not depend on that.
    etas = {}
    for k, name in enumerate(PK_ETAS):
        eta = np.zeros_like(z[0])
        for j in range(k + 1):
            eta = eta + lower[k, j] * z[j]
        etas[f"eta_{name}"] = eta
    return etas


def _baselines(u: dict, base: dict, hypertensive: np.ndarray) -> dict[str, np.ndarray]:
    picked = {}
    for key in ("sbp", "dbp"):
        normal = _truncated_normal(u[f"{key}_normal"], base["normotensive"][f"{key}_mmhg"])
        high = _truncated_normal(u[f"{key}_high"], base["hypertensive"][f"{key}_mmhg"])
        picked[f"baseline_{key}_mmhg"] = np.where(hypertensive, high, normal)
    picked["baseline_hr_bpm"] = _truncated_normal(u["hr"], base["hr_bpm"])
    picked["baseline_spo2_pct"] = _truncated_normal(u["spo2"], base["spo2_pct"])
    return picked


def _responses(u: dict, resp: dict, age_years: np.ndarray,
               hypertensive: np.ndarray) -> dict[str, np.ndarray]:
    factor = _age_factor(resp, age_years) * np.where(
        hypertensive, resp["hypertensive_sensitivity_factor"], 1.0)
    sbp_rise = _lognormal(u["sbp_rise"], resp["sbp_rise_mmhg_per_ng_ml"]) * factor
    hr = resp["hr_rise_bpm_per_ng_ml"]
    return {
        "sbp_rise_mmhg_per_ng_ml": sbp_rise,
        "dbp_rise_mmhg_per_ng_ml": sbp_rise * _lognormal(u["dbp_ratio"], resp["dbp_to_sbp_rise_ratio"]),
        "hr_rise_bpm_per_ng_ml": hr["mean"] + hr["sd"] * ndtri(u["hr_rise"]),
        "dissociation_per_ng_ml": _lognormal(u["dissociation"], resp["dissociation_per_ng_ml"]),
    }


def _age_factor(resp: dict, age_years: np.ndarray) -> np.ndarray:
    """Older patients respond more: a relative increase per decade, never below half."""
    decades = (age_years - resp["age_sensitivity_reference_years"]) / 10.0
    return np.maximum(0.5, 1.0 + resp["age_sensitivity_per_decade"] * decades)


def _hypertension_prevalence(table: dict, age_years: np.ndarray) -> np.ndarray:
    prevalence = np.zeros_like(age_years)
    for band in sorted(table["hypertension_prevalence_by_age"], key=lambda b: b["from_age_years"]):
        prevalence = np.where(age_years >= band["from_age_years"], band["prevalence"], prevalence)
    return prevalence


def _truncated_normal(u: np.ndarray, spec: dict) -> np.ndarray:
    """Inverse CDF of a normal distribution cut to [min, max]."""
    low = ndtr((spec["min"] - spec["mean"]) / spec["sd"])
    high = ndtr((spec["max"] - spec["mean"]) / spec["sd"])
    x = spec["mean"] + spec["sd"] * ndtri(low + u * (high - low))
    return np.clip(x, spec["min"], spec["max"])


def _lognormal(u: np.ndarray, spec: dict) -> np.ndarray:
    return spec["median"] * np.exp(spec["sigma_log"] * ndtri(u))


def _check_range(name: str, value: float, low: float, high: float, meaning: str) -> None:
    if not (low <= value <= high):
        raise ValueError(
            f"Patient: {name} is {value}; allowed range is {low} to {high} ({meaning}). "
            f"Correct the scenario or population table."
        )
