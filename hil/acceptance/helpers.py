"""What the acceptance tests share: prescriptions in the pump's units, measuring a delivery, and
time limits from the work a test does.

Time limits. A bench delivery takes as long as its prescription (40-100 min), the IEC 60601-2-24
test two hours per rate: no single limit fits. Each test states the pump time its work takes;
its pytest-timeout is that plus a quarter plus a margin for set-up and the bench's hands
(loading a syringe, clamping, settling), and each wait inside it gets the work plus a quarter
and two minutes. On the virtual board the same work passes in simulated time, far inside.
"""

from __future__ import annotations

import contextlib
import itertools
import time

import pytest

from hil.iec60601 import PROTOCOL

WATER_DENSITY_G_ML = PROTOCOL.water_density_g_ml
# One tolerance for the suite and `hil accuracy`, in hil/data/iec60601_2_24.json (flow_limit_pct,
# with its source): commercial syringe pumps promise +/-2 % at >= 1 mL/h.
VOLUME_TOLERANCE_PCT = PROTOCOL.flow_limit_pct
TOLERANCE_SOURCE = PROTOCOL.flow_limit_source


SETTLE_S = 60  # after the pump stops, the last drops reach the balance
TIMEOUT_MARGIN_S = 900  # set-up and the bench's hands: a syringe loaded, a clamp closed, a power cut


def wait_limit_s(work_s: float) -> float:
    """Wall seconds a wait for `work_s` of pump time may take on any bench."""
    return work_s * 1.25 + 120


def time_limit(work_s: float):
    """The pytest-timeout marker of a test whose work takes `work_s` of pump time."""
    return pytest.mark.timeout(round(work_s * 1.25) + TIMEOUT_MARGIN_S)


def prescription(weight_kg: float, dose_mg_kg: float, conc_mg_ml: float, duration_min: int,
                 syringe: str = "bd_plastipak_50") -> dict:
    return dict(drug="ketamine", profile="depression", conc_ug_ml=round(conc_mg_ml * 1000),
                weight_g=round(weight_kg * 1000), dose_ug_kg=round(dose_mg_kg * 1000),
                duration_min=duration_min, syringe=syringe)


_cuff_numbers = itertools.count(1)


def monitor_reports(pump, sbp: int = 125, dbp: int = 80, hr: int = 72, spo2: int = 98):
    """The bedside monitor reports a new cuff reading (the next bp_id), HR and SpO2: what the
    depression profile needs fresh before START and RESUME."""
    return pump.report_vitals(sbp=sbp, dbp=dbp, bp_id=next(_cuff_numbers) % 65535 + 1, hr=hr, spo2=spo2)


@contextlib.contextmanager
def real_pace(bench):
    """Pump time at the wall clock's pace for a moment. A virtual board at full speed runs
    minutes of pump time while the host waits for one answer, so vitals reported just before
    would be stale when START arrives; a host and a pump in real time are milliseconds apart."""
    vb = getattr(bench, "vb", bench)  # a VirtualBench, a VirtualBoard, or a real bench
    before = getattr(vb, "speed", None)
    if before is None:
        yield
        return
    vb.set_speed(1.0)
    try:
        yield
    finally:
        vb.set_speed(before)


def start_monitored(pump, bench, command: str = "start", **vitals):
    """The monitor reports (normal vitals unless given), then START (or RESUME) right after."""
    with real_pace(bench):
        monitor_reports(pump, **vitals)
        return getattr(pump, command)()


def prescribed_ml(rx: dict) -> float:
    return rx["dose_ug_kg"] * rx["weight_g"] / 1000 / rx["conc_ug_ml"]


def wait_pump_time(pump, bench, seconds: float, poll_s: float = 0.02) -> dict:
    """Wait until the pump's own clock has moved `seconds` on (simulated or real)."""
    t0 = pump.status()["t_ms"]
    deadline = time.monotonic() + wait_limit_s(seconds)
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
