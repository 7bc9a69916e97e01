"""Purging the line before it goes to the patient.

After loading a syringe a nurse purges a little fluid to waste: it fills the line and takes up
the slack of the plunger rod, the rubber stopper and its friction. Without it, the first tens of
microlitres the pump pushes only compress the stopper, a start-up deficit of about 1 % on a
3.5 mL dose. What is purged does not count as delivered.
"""

from __future__ import annotations

from sim.plant import Plant

PUSH_S = 10.0
SETTLE_S = 20.0
DURATION_S = PUSH_S + SETTLE_S


def prime(plant: Plant, volume_ul: float, t0_s: float) -> int:
    """Push volume_ul over PUSH_S from t0_s and let it settle; returns the drive steps used.

    The plant is advanced in 100 ms ticks, as in a run (its stopper model expects ticks)."""
    steps = round(plant.syringe.travel_um(volume_ul) / plant.drive.um_per_step) if volume_ul > 0 else 0
    n = int(PUSH_S * 10)
    for k in range(1, n + 1):
        plant.advance(t0_s + k * 0.1, steps * k // n)
    for k in range(1, int(SETTLE_S * 10) + 1):
        plant.advance(t0_s + PUSH_S + k * 0.1, steps)
    return steps
