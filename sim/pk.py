"""Pharmacokinetics: where the infused ketamine is in the body, minute by minute.

A mammillary compartment model treats the body as a central compartment (blood and
well-perfused organs, volume V1) exchanging drug with slower peripheral compartments
(muscle, fat), while the liver clears it from the central one. The brain sees the drug
through an effect site that lags plasma with rate constant ke0.

Example: a 70 kg patient receiving 0.5 mg/kg over 40 min gets 35 mg, i.e. a constant
875 ug/min. With the Clements-250 parameters, V1 = 1.7522 L/kg x 70 kg = 122.7 L and the
plasma concentration climbs to about 177 ng/mL at the end of the infusion (Zarate et al.
report ~185 ng/mL), then falls with a fast (~18 min) and a slow (~3 h) half-life::

    pk = PKModel.from_name("clements", weight_kg=70)
    pk.advance(40.0, rate_ug_min=875.0)
    pk.cp_ng_ml        # ~177
    pk.advance(90.0, rate_ug_min=0.0)

Pump rates are piecewise constant, so each interval is advanced with the exact solution
of the linear system (a matrix exponential with the infusion as an augmented input),
not with Euler steps; the propagator for a given interval length is computed once and
cached. The parameter sets live in sim/data/pk_models.json.

Patients differ. `PKIndividual` says how one patient departs from the typical one: a
log-normal factor on clearance and on each volume (exp(eta), eta drawn by the population
sampler), clearances scaled allometrically, (WT/70)^0.75, instead of linearly with weight,
and the weight the model scales with (total body weight, or an adjusted weight for an
obese patient: see `ideal_body_weight_kg` and `adjusted_body_weight_kg`). The typical
individual leaves the published set exactly as it is::

    pk = PKModel.from_name("clements", 70, PKIndividual(eta_cl=0.2, allometric=True))
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.linalg import expm

PK_MODELS_PATH = Path(__file__).parent / "data" / "pk_models.json"

# Indices into the state vector, all in ug: the amounts in the three compartments, the
# effect site expressed as Ce x V1 (so the matrix, and its cached exponentials, do not
# depend on body weight) and the cumulative amount eliminated.
CENTRAL, PERIPHERAL_FAST, PERIPHERAL_SLOW, EFFECT_SITE, ELIMINATED = range(5)
STATE_SIZE = 5

_PROPAGATOR_CACHE_SIZE = 256
REFERENCE_WEIGHT_KG = 70.0  # allometric scaling is anchored at a 70 kg adult
ALLOMETRIC_EXPONENT = 0.75  # for clearances; volumes stay linear in weight


@dataclass(frozen=True)
class PKParameters:
    """One published parameter set: V1 per kg of body weight and rate constants per minute."""

    name: str
    display: str
    source: str
    v1_l_kg: float
    k10_per_min: float
    k12_per_min: float
    k21_per_min: float
    k13_per_min: float
    k31_per_min: float
    ke0_per_min: float

    def __post_init__(self) -> None:
        if not self.v1_l_kg > 0:
            raise ValueError(
                f"PK set {self.name!r}: v1_l_kg is {self.v1_l_kg}; it must be > 0. "
                f"Fix the entry in {PK_MODELS_PATH.name}."
            )
        for field in ("k10", "k12", "k21", "k13", "k31", "ke0"):
            value = getattr(self, f"{field}_per_min")
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(
                    f"PK set {self.name!r}: {field}_per_min is {value}; rate constants "
                    f"must be finite and >= 0. Fix the entry in {PK_MODELS_PATH.name}."
                )
        for into, back in (("k12", "k21"), ("k13", "k31")):
            k_in = getattr(self, f"{into}_per_min")
            k_back = getattr(self, f"{back}_per_min")
            if (k_in > 0) != (k_back > 0):
                raise ValueError(
                    f"PK set {self.name!r}: {into}_per_min = {k_in} but {back}_per_min = "
                    f"{k_back}; a peripheral compartment needs both (or neither) > 0."
                )


def load_parameter_sets(path: Path = PK_MODELS_PATH) -> dict[str, PKParameters]:
    """Read every parameter set in the JSON table, keyed by its short name."""
    table = json.loads(Path(path).read_text())
    keys = ("v1_l_kg", "k10_per_min", "k12_per_min", "k21_per_min",
            "k13_per_min", "k31_per_min", "ke0_per_min")
    return {
        name: PKParameters(
            name=name,
            display=entry["display"],
            source=entry["source"],
            **{key: float(entry[key]) for key in keys},
        )
        for name, entry in table["models"].items()
    }


def default_model_name(path: Path = PK_MODELS_PATH) -> str:
    """The parameter set used when a scenario names none."""
    return json.loads(Path(path).read_text())["default"]


@lru_cache(maxsize=None)
def _parameter_sets() -> dict[str, PKParameters]:
    return load_parameter_sets()


@dataclass(frozen=True)
class PKIndividual:
    """One patient's departure from the typical: eta_* are log-normal deviations (the
    parameter is multiplied by exp(eta)); `size_weight_kg` is the weight the volumes and
    clearances scale with (None: the patient's total body weight)."""

    eta_cl: float = 0.0
    eta_v1: float = 0.0
    eta_v2: float = 0.0
    eta_v3: float = 0.0
    allometric: bool = False
    size_weight_kg: float | None = None

    @property
    def is_typical(self) -> bool:
        return self == TYPICAL


TYPICAL = PKIndividual()


def individual_parameters(params: PKParameters, weight_kg: float, ind: PKIndividual) -> tuple[PKParameters, float]:
    """The rate constants of one patient, and the weight V1 per kg is expressed against.

    The published set is turned into volumes and clearances at the size weight W (V1 =
    v1_l_kg W, CL = k10 V1, Q2 = k12 V1, V2 = Q2 / k21, ...), clearances are rescaled to
    CL_70 (W/70)^0.75 when allometric, each is multiplied by its exp(eta), and the rate
    constants are taken back (k10 = CL/V1, k12 = Q2/V1, k21 = Q2/V2, ...).
    """
    if ind.is_typical:
        return params, weight_kg
    w = weight_kg if ind.size_weight_kg is None else ind.size_weight_kg
    if not (w > 0 and math.isfinite(w)):
        raise ValueError(f"PK individual: size_weight_kg is {w}; it must be a finite number > 0.")
    v1_typ = params.v1_l_kg * w
    # Clearances: linear in weight as published, or allometric around the 70 kg adult.
    cl_scale = (REFERENCE_WEIGHT_KG * (w / REFERENCE_WEIGHT_KG) ** ALLOMETRIC_EXPONENT / w) if ind.allometric else 1.0
    cl = params.k10_per_min * v1_typ * cl_scale * math.exp(ind.eta_cl)
    q2 = params.k12_per_min * v1_typ * cl_scale
    q3 = params.k13_per_min * v1_typ * cl_scale
    v1 = v1_typ * math.exp(ind.eta_v1)
    v2 = v1_typ * params.k12_per_min / params.k21_per_min * math.exp(ind.eta_v2) if params.k21_per_min > 0 else 0.0
    v3 = v1_typ * params.k13_per_min / params.k31_per_min * math.exp(ind.eta_v3) if params.k31_per_min > 0 else 0.0
    return dataclasses.replace(
        params, v1_l_kg=v1 / w, k10_per_min=cl / v1, k12_per_min=q2 / v1, k21_per_min=q2 / v2 if v2 else 0.0,
        k13_per_min=q3 / v1, k31_per_min=q3 / v3 if v3 else 0.0), w


def ideal_body_weight_kg(height_cm: float, sex: str) -> float:
    """Devine's ideal body weight: 50 kg (men) or 45.5 kg (women) + 2.3 kg per inch over 5 ft
    (docs/references.md#pk). Never below 30 kg, so a very short patient stays plausible."""
    if sex not in ("female", "male"):
        raise ValueError(f"ideal body weight: sex is {sex!r}; allowed 'female' or 'male'.")
    if not 100.0 <= height_cm <= 250.0:
        raise ValueError(f"ideal body weight: height_cm is {height_cm}; allowed 100 to 250 cm.")
    base_kg = 50.0 if sex == "male" else 45.5
    return max(30.0, base_kg + 2.3 * (height_cm / 2.54 - 60.0))


def adjusted_body_weight_kg(weight_kg: float, ideal_kg: float, factor: float = 0.4) -> float:
    """Ideal weight plus `factor` of the excess (0.4, docs/references.md#pk); the total weight
    when the patient is at or below the ideal."""
    return weight_kg if weight_kg <= ideal_kg else ideal_kg + factor * (weight_kg - ideal_kg)


def body_mass_index(weight_kg: float, height_cm: float) -> float:
    return weight_kg / (height_cm / 100.0) ** 2


def rate_matrix(params: PKParameters) -> np.ndarray:
    """The linear system d(state)/dt = A state (+ infusion into the central compartment)."""
    k10, k12, k21 = params.k10_per_min, params.k12_per_min, params.k21_per_min
    k13, k31, ke0 = params.k13_per_min, params.k31_per_min, params.ke0_per_min
    a = np.zeros((STATE_SIZE, STATE_SIZE))
    a[CENTRAL, CENTRAL] = -(k10 + k12 + k13)
    a[CENTRAL, PERIPHERAL_FAST] = k21
    a[CENTRAL, PERIPHERAL_SLOW] = k31
    a[PERIPHERAL_FAST, CENTRAL] = k12
    a[PERIPHERAL_FAST, PERIPHERAL_FAST] = -k21
    a[PERIPHERAL_SLOW, CENTRAL] = k13
    a[PERIPHERAL_SLOW, PERIPHERAL_SLOW] = -k31
    a[EFFECT_SITE, CENTRAL] = ke0
    a[EFFECT_SITE, EFFECT_SITE] = -ke0
    a[ELIMINATED, CENTRAL] = k10
    return a


class PKModel:
    """Drug amounts in one patient, advanced exactly over constant-rate intervals."""

    def __init__(self, params: PKParameters, weight_kg: float) -> None:
        if not (weight_kg > 0 and math.isfinite(weight_kg)):
            raise ValueError(
                f"PK model: weight_kg is {weight_kg}; it must be a finite number > 0 "
                f"(adults are typically 40-150 kg). Pass the patient's body weight in kg."
            )
        self.params = params
        self.weight_kg = float(weight_kg)
        self.v1_l = params.v1_l_kg * self.weight_kg
        self._state = np.zeros(STATE_SIZE)
        self._infused_ug = 0.0
        self._t_min = 0.0
        # Per-model copy of the shared cache: hashing the parameter set on every call
        # would cost more than the update itself.
        self._propagators: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def from_name(cls, name: str, weight_kg: float, individual: PKIndividual = TYPICAL) -> "PKModel":
        """Build the model for a named parameter set ("clements", "domino"), a body weight and
        (optionally) one patient's departure from the typical (PKIndividual)."""
        sets = _parameter_sets()
        if name not in sets:
            raise ValueError(
                f"Unknown PK model {name!r}. Known models: {', '.join(sorted(sets))}. "
                f"Add new parameter sets to {PK_MODELS_PATH.name}."
            )
        return cls(*individual_parameters(sets[name], weight_kg, individual))

    # -- volumes -----------------------------------------------------------------------
    @property
    def v2_l(self) -> float:
        """Fast peripheral volume, V1 k12/k21 (0 when the compartment is absent)."""
        p = self.params
        return self.v1_l * p.k12_per_min / p.k21_per_min if p.k21_per_min > 0 else 0.0

    @property
    def v3_l(self) -> float:
        """Slow peripheral volume, V1 k13/k31 (0 when the compartment is absent)."""
        p = self.params
        return self.v1_l * p.k13_per_min / p.k31_per_min if p.k31_per_min > 0 else 0.0

    # -- state -------------------------------------------------------------------------
    @property
    def t_min(self) -> float:
        """Time advanced so far."""
        return self._t_min

    @property
    def amounts_ug(self) -> tuple[float, float, float]:
        """Drug in the central, fast peripheral and slow peripheral compartments."""
        s = self._state
        return float(s[CENTRAL]), float(s[PERIPHERAL_FAST]), float(s[PERIPHERAL_SLOW])

    @property
    def body_ug(self) -> float:
        """Drug still in the body (all compartments)."""
        return sum(self.amounts_ug)

    @property
    def cp_ng_ml(self) -> float:
        """Plasma (central) concentration."""
        # ug / L is ng / mL, so amount / V1 is already the concentration.
        return float(self._state[CENTRAL]) / self.v1_l

    @property
    def ce_ng_ml(self) -> float:
        """Effect-site concentration."""
        return float(self._state[EFFECT_SITE]) / self.v1_l

    @property
    def eliminated_ug(self) -> float:
        """Drug cleared from the body since the start."""
        return float(self._state[ELIMINATED])

    @property
    def infused_ug(self) -> float:
        """Drug given since the start."""
        return self._infused_ug

    # -- dynamics ----------------------------------------------------------------------
    def advance(self, dt_min: float, rate_ug_min: float) -> None:
        """Advance dt_min minutes with a constant infusion of rate_ug_min into plasma."""
        _check_step(dt_min, rate_ug_min)
        if dt_min == 0:
            return
        dt_min = float(dt_min)
        step = self._propagators.get(dt_min)
        if step is None:
            if len(self._propagators) >= _PROPAGATOR_CACHE_SIZE:
                self._propagators.clear()
            step = self._propagators[dt_min] = _propagator(self.params, dt_min)
        phi, gamma = step
        self._state = phi @ self._state + gamma * rate_ug_min
        self._infused_ug += rate_ug_min * dt_min
        self._t_min += dt_min

    @property
    def state(self) -> np.ndarray:
        """A copy of the state vector in ug (CENTRAL, PERIPHERAL_FAST, ..., ELIMINATED)."""
        return self._state.copy()


@lru_cache(maxsize=_PROPAGATOR_CACHE_SIZE)
def _propagator(params: PKParameters, dt_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact one-interval update: state' = phi state + gamma rate_ug_min."""
    # Augment the state with the (constant) rate so one exponential gives both the
    # free evolution phi and the response gamma to one ug/min of infusion.
    augmented = np.zeros((STATE_SIZE + 1, STATE_SIZE + 1))
    augmented[:STATE_SIZE, :STATE_SIZE] = rate_matrix(params)
    augmented[CENTRAL, STATE_SIZE] = 1.0
    exact = expm(augmented * dt_min)
    return exact[:STATE_SIZE, :STATE_SIZE].copy(), exact[:STATE_SIZE, STATE_SIZE].copy()


def _check_step(dt_min: float, rate_ug_min: float) -> None:
    if not (dt_min >= 0 and math.isfinite(dt_min)):
        raise ValueError(
            f"PK advance: dt_min is {dt_min}; it must be a finite number >= 0. "
            f"Advance time forwards only."
        )
    if not (rate_ug_min >= 0 and math.isfinite(rate_ug_min)):
        raise ValueError(
            f"PK advance: rate_ug_min is {rate_ug_min}; it must be a finite number >= 0 "
            f"(0 when the pump is stopped)."
        )
