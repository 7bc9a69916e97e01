"""What the acceptance tests share: prescriptions in the pump's units, and measuring a delivery."""

from __future__ import annotations

import time

from hil.iec60601 import PROTOCOL

WATER_DENSITY_G_ML = PROTOCOL.water_density_g_ml
# One tolerance for the suite and `hil accuracy`, in hil/data/iec60601_2_24.json (flow_limit_pct,
# with its source): commercial syringe pumps promise +/-2 % at >= 1 mL/h.
VOLUME_TOLERANCE_PCT = PROTOCOL.flow_limit_pct
TOLERANCE_SOURCE = PROTOCOL.flow_limit_source


def prescription(weight_kg: float, dose_mg_kg: float, conc_mg_ml: float, duration_min: int,
                 syringe: str = "bd_plastipak_50") -> dict:
    return dict(drug="ketamine", profile="depression", conc_ug_ml=round(conc_mg_ml * 1000),
                weight_g=round(weight_kg * 1000), dose_ug_kg=round(dose_mg_kg * 1000),
                duration_min=duration_min, syringe=syringe)


def prescribed_ml(rx: dict) -> float:
    return rx["dose_ug_kg"] * rx["weight_g"] / 1000 / rx["conc_ug_ml"]


def wait_pump_time(pump, bench, seconds: float, poll_s: float = 0.02) -> dict:
    """Wait until the pump's own clock has moved `seconds` on (simulated or real)."""
    t0 = pump.status()["t_ms"]
    deadline = time.monotonic() + max(60.0, seconds * 1.5)
    while True:
        st = pump.status()
        if st["t_ms"] - t0 >= seconds * 1000:
            return st
        if time.monotonic() > deadline:
            raise TimeoutError(f"pump time did not advance {seconds} s (serial log: {pump.log.path})")
        time.sleep(poll_s if bench.kind == "virtual" else min(1.0, seconds / 10))


def weigh_ml(balance) -> float:
    """Volume on the balance, from a stable reading."""
    return balance.weight_stable(timeout_s=20).value_g / WATER_DENSITY_G_ML
