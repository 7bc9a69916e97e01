"""The baseline occlusion detector: alarm when the measured line pressure exceeds a fixed level.

This is what most commercial syringe pumps do. The pusher carries a force sensor; the
pump divides the plunger force by the bore area and calls that the line pressure, so
plunger friction reads as pressure too. An occlusion alarm fires when the reading stays
above the selected level (a preset such as 500 mmHg) for a confirmation time, here zero
by default: the first reading above the level alarms.

Example: at 0.5 mL/h into a clotted cannula the pressure climbs by a few mmHg a minute,
so a 500 mmHg detector needs about two hours to notice::

    detector = ThresholdDetector.from_data()          # level and delay from the data file
    detector.update(t_s=0.0, pressure_mmhg=60.0)       # False
    detector.update(t_s=7000.0, pressure_mmhg=505.0)   # True, and stays latched

The benchmarks run the project's own detector against this one on the same plant.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from sim.plant import PLANT_CALIBRATION_PATH


class ThresholdDetector:
    """Latched alarm once pressure has stayed above threshold_mmhg for confirm_s."""

    def __init__(self, threshold_mmhg: float, confirm_s: float = 0.0) -> None:
        if not (math.isfinite(threshold_mmhg) and threshold_mmhg > 0):
            raise ValueError(f"Occlusion threshold {threshold_mmhg} mmHg must be a finite pressure > 0 (presets run 50-900 mmHg).")
        if not (math.isfinite(confirm_s) and confirm_s >= 0):
            raise ValueError(f"Confirmation delay {confirm_s} s must be finite and >= 0.")
        self.threshold_mmhg = float(threshold_mmhg)
        self.confirm_s = float(confirm_s)
        self.alarm = False
        self.alarm_t_s: float | None = None
        self._above_since_s: float | None = None

    @classmethod
    def from_data(cls, path: Path = PLANT_CALIBRATION_PATH) -> ThresholdDetector:
        """The detector with the level and delay kept in the plant calibration file."""
        data = json.loads(Path(path).read_text())["threshold_detector"]
        return cls(float(data["threshold_mmhg"]), float(data["confirm_s"]))

    def update(self, t_s: float, pressure_mmhg: float) -> bool:
        """Feed one reading; returns the (latched) alarm state."""
        if self.alarm:
            return True
        if pressure_mmhg <= self.threshold_mmhg:
            self._above_since_s = None
            return False
        if self._above_since_s is None:
            self._above_since_s = t_s
        if t_s - self._above_since_s >= self.confirm_s:
            self.alarm = True
            self.alarm_t_s = t_s
        return self.alarm

    def reset(self) -> None:
        """Acknowledge: clear the latched alarm."""
        self.alarm = False
        self.alarm_t_s = None
        self._above_since_s = None
