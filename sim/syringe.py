"""Syringes as the simulator sees them: the firmware's syringe table in millimetres and floats.

The firmware keeps the table in integer micrometres and microlitres
(firmware/data/syringes.json) because its dose maths must be exact on every port. The
physical world has no such constraint, so the simulator reads the same file (never writes
it) and derives the quantities the plant needs: bore area, plunger travel per microlitre
and the pressure that a plunger force corresponds to.

Example: a BD Plastipak 50 mL has an inner diameter of 26.70 mm, so its bore is
pi x 26.70^2 / 4 = 559.9 mm^2. One millilitre is then 1.786 mm of plunger travel, and a
plunger force of 37.3 N is the force that 500 mmHg of fluid pressure puts on the stopper::

    bd50 = load_syringe("bd_plastipak_50")
    bd50.area_mm2                     # 559.9
    bd50.travel_um(1000.0)            # 1786 um for 1 mL
    bd50.pressure_mmhg(37.3)          # ~500
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SYRINGE_TABLE_PATH = Path(__file__).resolve().parent.parent / "firmware" / "data" / "syringes.json"

# 1 mmHg = 133.322 Pa = 133.322e-6 N/mm^2 (conventional millimetre of mercury).
N_PER_MM2_PER_MMHG = 133.322e-6


@dataclass(frozen=True)
class SyringeSpec:
    """One row of the syringe table, in the units the plant works in."""

    id: str
    make: str
    size_ml: float
    inner_diameter_mm: float
    capacity_ul: float

    @property
    def area_mm2(self) -> float:
        return math.pi * self.inner_diameter_mm**2 / 4.0

    def travel_um(self, volume_ul: float) -> float:
        """Plunger travel that sweeps volume_ul (1 uL = 1 mm^3 = 1000 mm^2 x um)."""
        return volume_ul * 1000.0 / self.area_mm2

    def volume_ul(self, travel_um: float) -> float:
        """Volume swept by travel_um of plunger travel."""
        return travel_um * self.area_mm2 / 1000.0

    def force_n(self, pressure_mmhg: float) -> float:
        """Force that a fluid pressure puts on the stopper."""
        return pressure_mmhg * N_PER_MM2_PER_MMHG * self.area_mm2

    def pressure_mmhg(self, force_n: float) -> float:
        """Pressure that a plunger force corresponds to (how a force-sensing pump reads pressure)."""
        return force_n / (N_PER_MM2_PER_MMHG * self.area_mm2)


def _spec_from_row(row: dict) -> SyringeSpec:
    return SyringeSpec(
        id=row["id"],
        make=row["make"],
        size_ml=float(row["size_ml"]),
        inner_diameter_mm=row["inner_diameter_um"] / 1000.0,
        capacity_ul=float(row["capacity_ul"]),
    )


@lru_cache(maxsize=4)
def load_syringe_table(path: Path = SYRINGE_TABLE_PATH) -> dict[str, SyringeSpec]:
    """Every syringe in the firmware's table, keyed by id."""
    rows = json.loads(Path(path).read_text())["syringes"]
    return {row["id"]: _spec_from_row(row) for row in rows}


def load_syringe(syringe_id: str, path: Path = SYRINGE_TABLE_PATH) -> SyringeSpec:
    """The syringe with this id; a ValueError lists the ids the table knows."""
    table = load_syringe_table(path)
    try:
        return table[syringe_id]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ValueError(
            f"Syringe id {syringe_id!r} is not in {Path(path).name}. Known ids: {known}. "
            f"Use one of them, or add the syringe to the table."
        ) from None
