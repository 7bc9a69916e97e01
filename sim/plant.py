"""The plant: syringe, plunger and line between the pump's drive and the patient's vein.

The firmware only moves a stepper; what reaches the patient depends on physics it cannot
see. The drive pushes the plunger rod, the rod (a stiff spring with the rubber stopper)
pushes the stopper, which sticks to the barrel until the force beats its static friction
and then slides against a smaller glide friction. The displaced fluid is partly stored by
the compliance of the stopper and line (volume grows with pressure) and partly flows to
the patient through the resistance of line and cannula, Q = (P - Pven) / R.

Example: at 0.5 mL/h in a BD Plastipak 50 mL the plunger creeps at 0.25 um/s. When the
cannula clots (R -> infinity) nothing reaches the patient, the pressure climbs, and a
pump with a 500 mmHg alarm only notices after about two hours, when about 1 mL is stored
in syringe and line; opening the line then delivers that millilitre as a bolus::

    plant = Plant("bd_plastipak_50", seed=1)
    plant.advance(t_s=0.1, steps=1)       # every control tick: time and counted steps
    plant.occlude()                       # full occlusion; occlude(20.0): partial, R x 20
    plant.release_occlusion()
    plant.delivered_ul, plant.pressure_mmhg, plant.force_n, plant.at_end_stop

Mass balance holds exactly: pushed_ul = delivered_ul + stored_ul, where stored_ul is the
compression of the plunger rod and stopper (chain_ul) plus the fluid stored by the line
compliance above its resting state (line_ul).

Integration: each advance() first settles the stopper (stuck, or slipped to where the
forces balance at glide friction: quasi-static, the stopper has no mass), then moves the
line with the exact solution of the RC equation over the tick for the compliance frozen
at its secant value, so any tick length is stable, however stiff the line. Constants
live in sim/data/plant_calibration.json.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from sim.syringe import N_PER_MM2_PER_MMHG, SyringeSpec, load_syringe

PLANT_CALIBRATION_PATH = Path(__file__).parent / "data" / "plant_calibration.json"
BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"

PA_PER_MMHG = 133.322
STANDARD_GRAVITY_M_S2 = 9.80665


@dataclass(frozen=True)
class DriveTrain:
    """Stepper and lead screw: how far the pusher moves per counted microstep."""

    full_steps_per_rev: int
    microsteps: int
    lead_pitch_um: float

    @property
    def um_per_step(self) -> float:
        return self.lead_pitch_um / (self.full_steps_per_rev * self.microsteps)

    @classmethod
    def from_board(cls, board_name: str, boards_dir: Path = BOARDS_DIR) -> DriveTrain:
        path = Path(boards_dir) / board_name / "board.json"
        if not path.exists():
            known = ", ".join(sorted(p.name for p in Path(boards_dir).iterdir() if p.is_dir()))
            raise ValueError(f"Board {board_name!r} has no {path}. Known boards: {known}.")
        drive = json.loads(path.read_text())["drive"]
        return cls(drive["full_steps_per_rev"], drive["microsteps"], float(drive["lead_pitch_um"]))


class LineCompliance:
    """Volume stored in syringe and line versus gauge pressure, and its inverse.

    The syringe part stiffens with pressure, P = (Vs / C0) (1 + |Vs| / Vk); the tubing part
    is linear, Vt = Ct P. Volumes in uL above the unpressurised state; odd in pressure so
    that suction is handled too.
    """

    def __init__(self, syringe_initial_ul_per_mmhg: float, syringe_stiffening_ul: float, tubing_ul_per_mmhg: float) -> None:
        for name, value in (
            ("syringe_initial_ul_per_mmhg", syringe_initial_ul_per_mmhg),
            ("syringe_stiffening_ul", syringe_stiffening_ul),
        ):
            if not value > 0:
                raise ValueError(f"Line compliance: {name} is {value}; it must be > 0. Fix {PLANT_CALIBRATION_PATH.name}.")
        if not tubing_ul_per_mmhg >= 0:
            raise ValueError(f"Line compliance: tubing_ul_per_mmhg is {tubing_ul_per_mmhg}; it must be >= 0.")
        self.c0 = syringe_initial_ul_per_mmhg
        self.vk = syringe_stiffening_ul
        self.ct = tubing_ul_per_mmhg
        # The syringe share of a total volume V solves alpha Vs^2 + beta Vs = V.
        self._alpha = self.ct / (self.c0 * self.vk)
        self._beta = 1.0 + self.ct / self.c0

    def syringe_share_ul(self, volume_ul: float) -> float:
        v = abs(volume_ul)
        share = 2.0 * v / (self._beta + math.sqrt(self._beta * self._beta + 4.0 * self._alpha * v))
        return share if volume_ul >= 0 else -share

    def pressure_mmhg(self, volume_ul: float) -> float:
        vs = self.syringe_share_ul(volume_ul)
        return vs / self.c0 * (1.0 + abs(vs) / self.vk)

    def volume_ul(self, pressure_mmhg: float) -> float:
        p = abs(pressure_mmhg)
        vs = 0.5 * self.vk * (math.sqrt(1.0 + 4.0 * self.c0 * p / self.vk) - 1.0)
        v = vs + self.ct * p
        return v if pressure_mmhg >= 0 else -v

    def tangent_ul_per_mmhg(self, volume_ul: float) -> float:
        vs = abs(self.syringe_share_ul(volume_ul))
        return self.c0 / (1.0 + 2.0 * vs / self.vk) + self.ct


# Lengths, time constants and material constants that divide somewhere: zero is not physical.
_STRICTLY_POSITIVE = (
    "density_kg_m3",
    "viscosity_mpa_s",
    "extension_length_mm",
    "extension_inner_diameter_mm",
    "cannula_length_mm",
    "cannula_inner_diameter_mm",
    "stiffness_n_per_um",
    "stiction_dwell_s",
    "roughness_pitch_um",
)


@dataclass(frozen=True)
class PlantParams:
    """Every constant of the plant for the reference syringe, as read from the data file."""

    reference_syringe: str
    density_kg_m3: float
    viscosity_mpa_s: float
    extension_length_mm: float
    extension_inner_diameter_mm: float
    cannula_length_mm: float
    cannula_inner_diameter_mm: float
    venous_pressure_mmhg: float
    syringe_initial_ul_per_mmhg: float
    syringe_stiffening_volume_ul: float
    tubing_ul_per_mmhg: float
    compliance_cv: float
    stiffness_n_per_um: float
    breakaway_force_n: float
    glide_force_n: float
    stiction_dwell_s: float
    friction_cv: float
    stiffness_cv: float
    roughness_cv: float
    roughness_pitch_um: float

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, float) and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"Plant parameter {name} is {value}; it must be finite and >= 0. Fix {PLANT_CALIBRATION_PATH.name}.")
        for name in _STRICTLY_POSITIVE:
            if not getattr(self, name) > 0:
                raise ValueError(f"Plant parameter {name} is {getattr(self, name)}; it must be > 0. Fix {PLANT_CALIBRATION_PATH.name}.")
        if self.breakaway_force_n < self.glide_force_n:
            raise ValueError(
                f"Plant parameters: breakaway_force_n ({self.breakaway_force_n}) is below glide_force_n "
                f"({self.glide_force_n}); static friction must be at least the sliding friction."
            )

    def with_compliance_scale(self, scale: float) -> PlantParams:
        """The same plant with the syringe's compliance curve scaled in volume (used by calibration)."""
        fields = dict(vars(self))
        fields["syringe_initial_ul_per_mmhg"] *= scale
        fields["syringe_stiffening_volume_ul"] *= scale
        return PlantParams(**fields)

    def line_resistance_mmhg_s_per_ul(self) -> float:
        """Poiseuille resistance of extension line plus cannula, in series."""
        mu_pa_s = self.viscosity_mpa_s * 1e-3
        total = 0.0
        for length_mm, diameter_mm in (
            (self.extension_length_mm, self.extension_inner_diameter_mm),
            (self.cannula_length_mm, self.cannula_inner_diameter_mm),
        ):
            radius_m = diameter_mm * 0.5e-3
            total += 8.0 * mu_pa_s * length_mm * 1e-3 / (math.pi * radius_m**4)  # Pa s / m^3
        return total * 1e-9 / PA_PER_MMHG


def load_plant_params(path: Path = PLANT_CALIBRATION_PATH) -> PlantParams:
    data = json.loads(Path(path).read_text())
    fluid, line, comp, plunger = data["fluid"], data["line"], data["compliance"], data["plunger"]
    return PlantParams(
        reference_syringe=data["reference_syringe"],
        density_kg_m3=float(fluid["density_kg_m3"]),
        viscosity_mpa_s=float(fluid["viscosity_mpa_s"]),
        extension_length_mm=float(line["extension_length_mm"]),
        extension_inner_diameter_mm=float(line["extension_inner_diameter_mm"]),
        cannula_length_mm=float(line["cannula_length_mm"]),
        cannula_inner_diameter_mm=float(line["cannula_inner_diameter_mm"]),
        venous_pressure_mmhg=float(data["patient"]["venous_pressure_mmhg"]),
        syringe_initial_ul_per_mmhg=float(comp["syringe_initial_ul_per_mmhg"]),
        syringe_stiffening_volume_ul=float(comp["syringe_stiffening_volume_ul"]),
        tubing_ul_per_mmhg=float(comp["tubing_ul_per_mmhg"]),
        compliance_cv=float(comp["between_syringe_cv"]),
        stiffness_n_per_um=float(plunger["stiffness_n_per_um"]),
        breakaway_force_n=float(plunger["breakaway_force_n"]),
        glide_force_n=float(plunger["glide_force_n"]),
        stiction_dwell_s=float(plunger["stiction_dwell_s"]),
        friction_cv=float(plunger["friction_cv"]),
        stiffness_cv=float(plunger["stiffness_cv"]),
        roughness_cv=float(plunger["roughness_cv"]),
        roughness_pitch_um=float(plunger["roughness_pitch_um"]),
    )


def _spread(rng: random.Random | None, cv: float) -> float:
    """A between-syringe factor around 1 (clipped at 3 SD so that it stays positive)."""
    if rng is None or cv == 0:
        return 1.0
    z = max(-3.0, min(3.0, rng.gauss(0.0, 1.0)))
    return max(0.05, 1.0 + cv * z)


def line_excess_after(excess_ul: float, inflow_ul_s: float, dt_s: float, tau_s: float) -> float:
    """Line volume above its zero-flow state after dt_s, fed at inflow_ul_s, draining with
    time constant tau_s while the excess is positive (flow never reverses into the line).

    Exact for the linear RC line: x' = u - x / tau when x > 0, x' = u otherwise.
    """
    x, u = excess_ul, inflow_ul_s
    if tau_s == math.inf:
        return x + u * dt_s
    if x > 0.0 or (x == 0.0 and u > 0.0):
        x_ss = u * tau_s
        if x_ss < 0.0:
            # Drawn back (plunger backed off): the excess may reach zero within the tick.
            t_zero_s = tau_s * math.log((x - x_ss) / -x_ss)
            if t_zero_s < dt_s:
                return u * (dt_s - t_zero_s)
        return x_ss + (x - x_ss) * math.exp(-dt_s / tau_s)
    x_end = x + u * dt_s
    if x_end <= 0.0:
        return x_end
    t_open_s = -x / u
    return u * tau_s * (1.0 - math.exp(-(dt_s - t_open_s) / tau_s))


class Plant:
    """One syringe on one pump, connected through a line to one patient's vein."""

    def __init__(
        self,
        syringe: SyringeSpec | str = "bd_plastipak_50",
        drive: DriveTrain | None = None,
        fill_ul: float | None = None,
        seed: int | None = 0,
        params: PlantParams | None = None,
        t0_s: float = 0.0,
    ) -> None:
        """seed=None gives the nominal syringe (no between-syringe spread, smooth barrel)."""
        self.syringe = load_syringe(syringe) if isinstance(syringe, str) else syringe
        self.drive = drive if drive is not None else DriveTrain.from_board("VIRTUAL")
        self.params = params if params is not None else load_plant_params()
        fill = self.syringe.capacity_ul if fill_ul is None else float(fill_ul)
        if not 0 < fill <= self.syringe.capacity_ul:
            raise ValueError(
                f"Fill volume {fill} uL is outside 0-{self.syringe.capacity_ul:g} uL for {self.syringe.id}; "
                f"fill the syringe with at most its capacity."
            )
        self._build_physics(random.Random(seed) if seed is not None else None)
        self._um_per_step = self.drive.um_per_step
        self._area_mm2 = self.syringe.area_mm2
        self._ul_per_um = self._area_mm2 / 1000.0
        self._n_per_mmhg = N_PER_MM2_PER_MMHG * self._area_mm2

        self.t_s = t0_s
        self.syringe_present = True
        self.plunger_engaged = True
        self.occlusion_factor = 1.0
        self.venous_pressure_mmhg = self.params.venous_pressure_mmhg
        self.syringe_height_cm = 0.0
        self._update_zero_flow_state()

        self._steps = 0
        self._offset_um = 0.0  # plunger flange minus pusher position, fixed while engaged
        self._x_flange_um = 0.0
        self._x_stopper_um = 0.0
        self._x_end_um = self.syringe.travel_um(fill)
        self._dwell_s = math.inf  # the filled syringe has rested: full breakaway force
        self._pushed_base_ul = 0.0  # plunger volume of syringes used up before this one
        self._volume_ul = self._volume_eq_ul
        self._volume_initial_ul = self._volume_ul
        self.delivered_ul = 0.0
        self.flow_ul_h = 0.0
        self.pressure_mmhg = self._compliance.pressure_mmhg(self._volume_ul)
        self.force_n = 0.0

    # --- construction ---------------------------------------------------------------

    def _build_physics(self, rng: random.Random | None) -> None:
        p = self.params
        ref = load_syringe(p.reference_syringe)
        area_ratio = self.syringe.area_mm2 / ref.area_mm2
        diameter_ratio = self.syringe.inner_diameter_mm / ref.inner_diameter_mm
        comp = _spread(rng, p.compliance_cv)
        self._compliance = LineCompliance(
            p.syringe_initial_ul_per_mmhg * area_ratio * comp,
            p.syringe_stiffening_volume_ul * area_ratio * comp,
            p.tubing_ul_per_mmhg,
        )
        friction = _spread(rng, p.friction_cv) * diameter_ratio
        self._glide_n = p.glide_force_n * friction
        self._stiction_n = (p.breakaway_force_n - p.glide_force_n) * friction
        self._stiffness_n_per_um = p.stiffness_n_per_um * _spread(rng, p.stiffness_cv)
        self._resistance = p.line_resistance_mmhg_s_per_ul()
        self._head_mmhg_per_cm = p.density_kg_m3 * STANDARD_GRAVITY_M_S2 * 0.01 / PA_PER_MMHG
        slots = int(self.syringe.travel_um(self.syringe.capacity_ul) / p.roughness_pitch_um) + 2
        self._roughness = [_spread(rng, p.roughness_cv) for _ in range(slots)]
        self._inv_pitch = 1.0 / p.roughness_pitch_um

    def _update_zero_flow_state(self) -> None:
        """The syringe pressure at which nothing flows: venous pressure minus the head."""
        self._pressure_eq_mmhg = self.venous_pressure_mmhg - self.syringe_height_cm * self._head_mmhg_per_cm
        self._volume_eq_ul = self._compliance.volume_ul(self._pressure_eq_mmhg)
        self._compliance_eq = self._compliance.tangent_ul_per_mmhg(self._volume_eq_ul)

    # --- scenario actions -------------------------------------------------------------

    def occlude(self, resistance_factor: float = math.inf) -> None:
        """Occlude downstream: full by default, partial when the line resistance is multiplied."""
        if not resistance_factor >= 1.0:
            raise ValueError(
                f"Occlusion resistance factor {resistance_factor} is below 1; an occlusion multiplies "
                f"the line resistance by a factor > 1 (math.inf for a full occlusion)."
            )
        self.occlusion_factor = float(resistance_factor)

    def release_occlusion(self) -> None:
        self.occlusion_factor = 1.0

    def disengage_plunger(self) -> None:
        """The plunger clamp lets go: the pusher no longer moves (or holds) the plunger."""
        self._uncouple()
        self.plunger_engaged = False

    def engage_plunger(self) -> None:
        """The clamp grips the plunger where it now is."""
        if self.syringe_present:
            self._couple()
        self.plunger_engaged = True

    def remove_syringe(self) -> None:
        """The syringe leaves the pump but stays connected to the line."""
        self._uncouple()
        self.syringe_present = False
        self.plunger_engaged = False

    def insert_syringe(self, fill_ul: float | None = None) -> None:
        """Put the syringe back (fill_ul=None) or load a fresh one of the same make holding fill_ul."""
        if fill_ul is not None:
            if not 0 < fill_ul <= self.syringe.capacity_ul:
                raise ValueError(f"Fill volume {fill_ul} uL is outside 0-{self.syringe.capacity_ul:g} uL for {self.syringe.id}.")
            self._uncouple()  # the old syringe's rod relaxes as it leaves the pump
            self._pushed_base_ul += self._x_flange_um * self._ul_per_um
            self._x_flange_um = self._x_stopper_um = 0.0
            self._x_end_um = self.syringe.travel_um(fill_ul)
            self._dwell_s = math.inf
        self.syringe_present = True
        self.plunger_engaged = True
        self._couple()

    def set_syringe_height_cm(self, height_cm: float) -> None:
        """Height of the syringe above the patient's vein (negative: below)."""
        self.syringe_height_cm = float(height_cm)
        self._update_zero_flow_state()

    def set_venous_pressure_mmhg(self, pressure_mmhg: float) -> None:
        if not -20.0 <= pressure_mmhg <= 60.0:
            raise ValueError(f"Venous pressure {pressure_mmhg} mmHg is outside -20..60 mmHg; use a physiological value (5-10 typical).")
        self.venous_pressure_mmhg = float(pressure_mmhg)
        self._update_zero_flow_state()

    def _uncouple(self) -> None:
        # The compressed rod springs back: the flange moves to the stopper.
        self._x_flange_um = self._x_stopper_um
        self.force_n = 0.0

    def _couple(self) -> None:
        self._offset_um = self._x_stopper_um - self._steps * self._um_per_step
        self._x_flange_um = self._x_stopper_um

    # --- outputs ----------------------------------------------------------------------

    @property
    def coupled(self) -> bool:
        return self.syringe_present and self.plunger_engaged

    @property
    def pushed_ul(self) -> float:
        """Volume swept by the plunger flange since the start (all syringes)."""
        return self._pushed_base_ul + self._x_flange_um * self._ul_per_um

    @property
    def chain_ul(self) -> float:
        """Volume equivalent of the rod and stopper compression (flange ahead of stopper)."""
        return (self._x_flange_um - self._x_stopper_um) * self._ul_per_um

    @property
    def line_ul(self) -> float:
        """Fluid stored by the syringe and line compliance above the state at the start."""
        return self._volume_ul - self._volume_initial_ul

    @property
    def stored_ul(self) -> float:
        return self.chain_ul + self.line_ul

    @property
    def remaining_ul(self) -> float:
        """Fluid still in the syringe ahead of the stopper."""
        return (self._x_end_um - self._x_stopper_um) * self._ul_per_um

    @property
    def at_end_stop(self) -> bool:
        """End-of-travel switch: the plunger has reached the empty end of the syringe."""
        return self._x_flange_um >= self._x_end_um

    @property
    def resistance_mmhg_s_per_ul(self) -> float:
        return self._resistance * self.occlusion_factor

    # --- time -------------------------------------------------------------------------

    def advance(self, t_s: float, steps: int) -> None:
        """Move to time t_s with the drive at `steps` counted microsteps (absolute position)."""
        dt = t_s - self.t_s
        if dt < 0.0:
            raise ValueError(f"Plant time cannot go back: advance to {t_s} s after {self.t_s} s; pass a time >= the last one.")
        self._steps = steps
        inflow_ul = self._settle_stopper(steps, dt)
        self._flow_through_line(inflow_ul, dt)
        self.t_s = t_s

    def _settle_stopper(self, steps: int, dt: float) -> float:
        """Stick, or slip to the position where the rod force balances pressure and glide friction.

        Returns the volume the stopper displaced into the line.
        """
        x_s = self._x_stopper_um
        if self.syringe_present and self.plunger_engaged:
            k = self._stiffness_n_per_um
            x_f = steps * self._um_per_step + self._offset_um
            self._x_flange_um = x_f
            f_rod = k * (x_f - x_s)
        else:
            k = 0.0
            f_rod = 0.0
        f_net = f_rod - self._n_per_mmhg * self.pressure_mmhg
        slot = int(x_s * self._inv_pitch)
        rough = self._roughness[slot] if 0 <= slot < len(self._roughness) else 1.0
        glide = self._glide_n * rough
        self._dwell_s += dt
        breakaway = glide + self._stiction_n * rough * (1.0 - math.exp(-self._dwell_s / self.params.stiction_dwell_s))
        moved_ul = 0.0
        if f_net > breakaway or f_net < -breakaway:
            target = glide if f_net > 0.0 else -glide
            # Stiffness seen by the stopper: the rod plus the fluid it compresses.
            fluid = self._n_per_mmhg * self._ul_per_um / self._compliance.tangent_ul_per_mmhg(self._volume_ul)
            x_new = x_s + (f_net - target) / (k + fluid)
            if x_new > self._x_end_um:
                x_new = self._x_end_um  # stopper against the end of the barrel
            moved_ul = (x_new - x_s) * self._ul_per_um
            self._x_stopper_um = x_new
            self._dwell_s = 0.0
        if k == 0.0:
            self._x_flange_um = self._x_stopper_um
        self.force_n = k * (self._x_flange_um - self._x_stopper_um)
        return moved_ul

    def _flow_through_line(self, inflow_ul: float, dt: float) -> None:
        """Exact RC update of the line over the tick, the slug spread evenly across it."""
        v0 = self._volume_ul
        excess = v0 - self._volume_eq_ul
        if dt > 0.0:
            resistance = self._resistance * self.occlusion_factor
            if resistance == math.inf:
                tau = math.inf
            elif excess > 1e-9 and self.pressure_mmhg > self._pressure_eq_mmhg:
                tau = resistance * excess / (self.pressure_mmhg - self._pressure_eq_mmhg)
            else:
                tau = resistance * self._compliance_eq
            new_excess = line_excess_after(excess, inflow_ul / dt, dt, tau)
        else:
            new_excess = excess + inflow_ul
        out_ul = inflow_ul - (new_excess - excess)
        if out_ul < 0.0:  # rounding only: flow never reverses
            out_ul = 0.0
            new_excess = excess + inflow_ul
        self._volume_ul = self._volume_eq_ul + new_excess
        self.delivered_ul += out_ul
        self.flow_ul_h = out_ul / dt * 3600.0 if dt > 0.0 else 0.0
        self.pressure_mmhg = self._compliance.pressure_mmhg(self._volume_ul)
