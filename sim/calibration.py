"""Calibrating the plant against published occlusion alarm times, and the bench experiments.

Donmez et al. (2005) occluded 50 mL syringes on commercial pumps and timed the occlusion
alarm: 117.3 +/- 9.4 min at 0.5 mL/h and 15.0 +/- 7.1 min at 5 mL/h. A pump that alarms
on a pressure threshold alarms once the volume pushed into the closed line has raised
the pressure to the threshold, so those times fix how much the syringe and line store
(rate x time: about 1 mL). Here the same experiment runs on the simulated plant with the
baseline detector (sim/threshold_detector.py) reading the simulated force sensor, and the
compliance scale in sim/data/plant_calibration.json is the one that reproduces the
0.5 mL/h figure on the nominal syringe.

Example (the drive follows a steps-versus-time ramp; no firmware involved)::

    run = run_occlusion(rate_ml_h=0.5, seed=1)
    run.time_to_alarm_min, run.stored_increment_ul
    bolus = run_bolus(rate_ml_h=5.0, seed=1, back_off=True).bolus_ul

    python -m sim.calibration          # the table of alarm times and boluses
    python -m sim.calibration --fit    # re-derive the compliance scale
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sim.force_sensor import ForceSensor, force_n_from_counts
from sim.plant import PLANT_CALIBRATION_PATH, BOARDS_DIR, DriveTrain, Plant, PlantParams, load_plant_params
from sim.syringe import load_syringe
from sim.threshold_detector import ThresholdDetector

TICK_S = 0.1


class OcclusionDetector(Protocol):
    """Anything fed one measured pressure per tick that answers whether it alarms (latched)."""

    def update(self, t_s: float, pressure_mmhg: float) -> bool: ...


@dataclass(frozen=True)
class AlarmTarget:
    rate_ml_h: float
    alarm_mean_min: float
    alarm_sd_min: float


@dataclass(frozen=True)
class CalibrationSetup:
    """The experiment as described in the data file."""

    syringe_id: str
    board: str
    occlusion_after_s: float
    seeds: tuple[int, ...]
    targets: tuple[AlarmTarget, ...]
    fit_rate_ml_h: float

    @classmethod
    def load(cls, path: Path = PLANT_CALIBRATION_PATH) -> CalibrationSetup:
        data = json.loads(Path(path).read_text())["calibration"]
        return cls(
            syringe_id=data["syringe"],
            board=data["board"],
            occlusion_after_s=float(data["occlusion_after_s"]),
            seeds=tuple(int(s) for s in data["seeds"]),
            targets=tuple(AlarmTarget(float(t["rate_ml_h"]), float(t["alarm_mean_min"]), float(t["alarm_sd_min"])) for t in data["targets"]),
            fit_rate_ml_h=float(data["fit_rate_ml_h"]),
        )

    def target(self, rate_ml_h: float) -> AlarmTarget:
        for target in self.targets:
            if target.rate_ml_h == rate_ml_h:
                return target
        raise ValueError(f"No published alarm time for {rate_ml_h} mL/h; known rates: {[t.rate_ml_h for t in self.targets]}.")


class Rig:
    """A plant on a drive, its force sensor and a pressure reading as a force-sensing pump makes it."""

    def __init__(self, seed: int | None, params: PlantParams | None = None, setup: CalibrationSetup | None = None) -> None:
        self.setup = setup if setup is not None else CalibrationSetup.load()
        board = json.loads((BOARDS_DIR / self.setup.board / "board.json").read_text())
        force = board["force"]
        self.syringe = load_syringe(self.setup.syringe_id)
        self.plant = Plant(self.syringe, DriveTrain.from_board(self.setup.board), seed=seed, params=params)
        self.sensor = ForceSensor(
            lambda: self.plant.force_n,
            samples_per_s=force["samples_per_s"],
            counts_per_n=force["counts_per_n"],
            offset_counts=force["offset_counts"],
            seed=seed,
        )
        self.ul_per_step = self.syringe.volume_ul(self.plant.drive.um_per_step)
        self.t_s = 0.0
        self.steps = 0

    def run(self, until_s: float, steps_at: Callable[[float], int], on_tick: Callable[[float, float], bool] | None = None) -> bool:
        """Tick the plant to until_s; on_tick(t_s, measured pressure) may stop the run by returning True."""
        n = round(self.t_s / TICK_S)
        while self.t_s < until_s - 1e-9:
            n += 1
            self.t_s = n * TICK_S
            self.steps = steps_at(self.t_s)
            self.plant.advance(self.t_s, self.steps)
            if on_tick is not None and on_tick(self.t_s, self.measured_pressure_mmhg()):
                return True
        return False

    def measured_pressure_mmhg(self) -> float:
        counts = self.sensor.read(self.t_s)
        return self.syringe.pressure_mmhg(force_n_from_counts(counts, self.sensor.counts_per_n, self.sensor.offset_counts))

    def ramp(self, rate_ml_h: float, start_s: float = 0.0, start_steps: int = 0) -> Callable[[float], int]:
        """Steps versus time for a constant rate, as the firmware's motion plan counts them."""
        steps_per_s = rate_ml_h * 1000.0 / 3600.0 / self.ul_per_step
        return lambda t_s: start_steps + int((t_s - start_s) * steps_per_s)


@dataclass(frozen=True)
class OcclusionRun:
    rate_ml_h: float
    seed: int | None
    time_to_alarm_s: float  # math.inf when no alarm within the limit
    stored_at_occlusion_ul: float
    stored_at_alarm_ul: float
    line_pressure_at_alarm_mmhg: float
    measured_pressure_at_alarm_mmhg: float

    @property
    def time_to_alarm_min(self) -> float:
        return self.time_to_alarm_s / 60.0

    @property
    def stored_increment_ul(self) -> float:
        return self.stored_at_alarm_ul - self.stored_at_occlusion_ul


def run_occlusion(
    rate_ml_h: float,
    seed: int | None,
    detector: OcclusionDetector | None = None,
    params: PlantParams | None = None,
    limit_s: float = 6 * 3600.0,
) -> OcclusionRun:
    """Infuse normally, occlude fully, and time the detector's alarm from the occlusion
    (the baseline threshold detector unless another is given)."""
    rig = Rig(seed, params)
    alarms: OcclusionDetector = detector if detector is not None else ThresholdDetector.from_data()
    ramp = rig.ramp(rate_ml_h)
    rig.run(rig.setup.occlusion_after_s, ramp)
    rig.plant.occlude()
    t_occluded_s, stored_at_occlusion_ul = rig.t_s, rig.plant.stored_ul
    pressure = [math.nan]

    def alarm(t_s: float, pressure_mmhg: float) -> bool:
        pressure[0] = pressure_mmhg
        return alarms.update(t_s, pressure_mmhg)

    alarmed = rig.run(t_occluded_s + limit_s, ramp, alarm)
    return OcclusionRun(
        rate_ml_h=rate_ml_h,
        seed=seed,
        time_to_alarm_s=rig.t_s - t_occluded_s if alarmed else math.inf,
        stored_at_occlusion_ul=stored_at_occlusion_ul,
        stored_at_alarm_ul=rig.plant.stored_ul,
        line_pressure_at_alarm_mmhg=rig.plant.pressure_mmhg,
        measured_pressure_at_alarm_mmhg=pressure[0],
    )


@dataclass(frozen=True)
class BolusRun:
    stored_at_alarm_ul: float
    backed_off_ul: float
    bolus_ul: float  # delivered after release, beyond what the (stopped) drive asked for


def run_bolus(
    rate_ml_h: float,
    seed: int | None,
    back_off: bool,
    back_off_s: float = 2.0,
    release_after_s: float = 60.0,
    collect_s: float = 300.0,
) -> BolusRun:
    """Occlusion until the threshold alarm, drive stopped (optionally backed off by the stored
    volume over back_off_s), occlusion released release_after_s later, bolus collected."""
    rig = Rig(seed)
    detector = ThresholdDetector.from_data()
    ramp = rig.ramp(rate_ml_h)
    rig.run(rig.setup.occlusion_after_s, ramp)
    rig.plant.occlude()
    rig.run(rig.t_s + 6 * 3600.0, ramp, lambda t, p: detector.update(t, p))
    stored_ul = rig.plant.stored_ul
    held_steps = rig.steps
    back_off_steps = round(stored_ul / rig.ul_per_step) if back_off else 0
    t_alarm_s = rig.t_s

    def stop_and_back_off(t_s: float) -> int:
        fraction = min(1.0, (t_s - t_alarm_s) / back_off_s)
        return held_steps - round(back_off_steps * fraction)

    rig.run(t_alarm_s + release_after_s, stop_and_back_off)
    rig.plant.release_occlusion()
    delivered_at_release_ul = rig.plant.delivered_ul
    rig.run(rig.t_s + collect_s, stop_and_back_off)
    return BolusRun(
        stored_at_alarm_ul=stored_ul,
        backed_off_ul=back_off_steps * rig.ul_per_step,
        bolus_ul=rig.plant.delivered_ul - delivered_at_release_ul,
    )


def fit_compliance_scale(
    setup: CalibrationSetup | None = None, tolerance_min: float = 0.05, bracket: tuple[float, float] = (0.1, 10.0)
) -> float:
    """Scale of the syringe compliance curve that puts the nominal syringe's alarm at the
    published mean for the fit rate (bisection on a log scale; time rises with the scale)."""
    setup = setup if setup is not None else CalibrationSetup.load()
    target = setup.target(setup.fit_rate_ml_h)
    base = load_plant_params()
    low, high = bracket
    while True:
        mid = math.sqrt(low * high)
        minutes = run_occlusion(target.rate_ml_h, None, params=base.with_compliance_scale(mid)).time_to_alarm_min
        if abs(minutes - target.alarm_mean_min) < tolerance_min or high / low < 1.0001:
            return mid
        if minutes > target.alarm_mean_min:
            high = mid
        else:
            low = mid


def _report() -> None:
    setup = CalibrationSetup.load()
    for target in setup.targets:
        nominal = run_occlusion(target.rate_ml_h, None)
        runs = [run_occlusion(target.rate_ml_h, seed) for seed in setup.seeds]
        minutes = [r.time_to_alarm_min for r in runs]
        mean = sum(minutes) / len(minutes)
        print(
            f"{target.rate_ml_h:4.1f} mL/h: published {target.alarm_mean_min} +/- {target.alarm_sd_min} min; "
            f"nominal {nominal.time_to_alarm_min:.1f} min (stored {nominal.stored_increment_ul:.0f} uL since occlusion, "
            f"{nominal.stored_at_alarm_ul:.0f} uL in all; line {nominal.line_pressure_at_alarm_mmhg:.0f} mmHg, "
            f"read {nominal.measured_pressure_at_alarm_mmhg:.0f} mmHg); seeds {', '.join(f'{m:.1f}' for m in minutes)} "
            f"(mean {mean:.1f})"
        )
    for rate_ml_h in (0.5, 5.0):
        for back_off in (False, True):
            bolus = run_bolus(rate_ml_h, setup.seeds[0], back_off)
            print(
                f"{rate_ml_h:4.1f} mL/h bolus after release, back-off {bolus.backed_off_ul:6.0f} uL: "
                f"{bolus.bolus_ul:6.0f} uL (stored at alarm {bolus.stored_at_alarm_ul:.0f} uL)"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sim.calibration", description="Occlusion alarm times and boluses of the simulated plant.")
    parser.add_argument("--fit", action="store_true", help="re-derive the compliance scale against the published alarm time")
    args = parser.parse_args(argv)
    if args.fit:
        params = load_plant_params()
        scale = fit_compliance_scale()
        print(
            f"compliance scale {scale:.4f}: syringe_initial_ul_per_mmhg = {params.syringe_initial_ul_per_mmhg * scale:.3f}, "
            f"syringe_stiffening_volume_ul = {params.syringe_stiffening_volume_ul * scale:.1f}"
        )
    else:
        _report()


if __name__ == "__main__":
    main()
