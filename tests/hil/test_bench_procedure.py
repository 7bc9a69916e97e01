"""The real-bench path end to end: `python -m hil run --port ... --balance ... --fixture ...`
against the virtual rig (the virtual board, the simulated balance and a relay port on ptys),
the bench procedure answered by the rig's fixture file. Every delivery case runs, in the pump's
SERVICE state on the test-only water profile. The fast selection is part of `make test`; the
whole suite is `-m slow`."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from hil.virtual_rig import ENV_PORT, FIXTURE, VirtualRig
from sim.bus import ROOT


def _run_on_rig(tmp_path, *args, fixture=True):
    with VirtualRig(runtime="micropython") as rig:
        env = dict(os.environ, **{ENV_PORT: rig.port})
        cmd = [sys.executable, "-m", "hil", "run", "--port", rig.pump_port, "--balance", rig.balance_port,
               "--report", str(tmp_path)] + (["--fixture", str(FIXTURE)] if fixture else []) + list(args)
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
        handled = list(rig.handled)
    return out, handled


def _outcomes(junit) -> dict:
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        kids = [c.tag for c in case]
        out[case.get("name")] = "failed" if ("failure" in kids or "error" in kids) else "skipped" if "skipped" in kids else "passed"
    return out


@pytest.mark.timeout(900)  # about 80 min of pump time at the rig's 100x, and the suite's set-up
def test_a_delivery_and_a_power_cut_on_the_bench_path(tmp_path):
    """One delivery case, the power-loss recovery and a refusal on the real-bench path: the rig
    loads the syringe and cuts the power; the delivery runs in SERVICE on water; the refusal
    (clinical profile) runs out of SERVICE."""
    out, handled = _run_on_rig(tmp_path, "-k", "delivered_volume and 70-0.5-10 or power_loss or hard_limit")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    run = tmp_path / "latest"
    outcomes = _outcomes(run / "junit.xml")
    assert sorted(outcomes.values()) == ["passed"] * 3, outcomes
    props = {p.get("name"): p.get("value") for p in ET.parse(run / "junit.xml").iterfind("testsuite/properties/property")}
    assert props["bench_hands"] == f"rig fixture {FIXTURE}"
    assert ("LOAD bd_plastipak_50 8.5", "OK") in handled and ("POWER CYCLE 30", "OK") in handled
    logs = {p.name: p.read_text() for p in (run / "logs").glob("*.log")}
    (delivery,) = [t for n, t in logs.items() if "delivered_volume" in n]
    assert "SERVICE action=enter" in delivery and "PROGRAM drug=water profile=bench_dose" in delivery
    (refusal,) = [t for n, t in logs.items() if "hard_limit" in n]
    assert "service=off" in refusal and "drug=ketamine" in refusal


def test_without_hands_a_bench_skips_what_needs_them(tmp_path):
    """No --operator, no --fixture: the delivery case is skipped, saying which option gives hands."""
    out, handled = _run_on_rig(tmp_path, "-k", "delivered_volume and 70-0.5-10", fixture=False)
    assert out.returncode == 0 and handled == []
    assert "needs hands on the bench" in out.stdout and "--fixture FILE" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["--operator"], "are for a bench (--port)"),
    (["--port", "socket://localhost:1", "--fixture", "no-such-rig.toml"], "no-such-rig.toml does not exist"),
])
def test_procedure_options_checked_before_any_test(tmp_path, args, message):
    out = subprocess.run([sys.executable, "-m", "hil", "run", "--report", str(tmp_path), *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 8 h of pump time at the rig's 100x
def test_the_whole_suite_on_the_bench_path(tmp_path):
    """Every acceptance test but the two-hour IEC test, every delivery case included, passes on
    the real-bench path with the rig's fixture answering the procedure."""
    out, handled = _run_on_rig(tmp_path)
    assert out.returncode == 0, out.stdout[-6000:]
    outcomes = _outcomes(tmp_path / "latest" / "junit.xml")
    deliveries = [n for n in outcomes if n.startswith("test_delivered_volume")]
    assert len(deliveries) == 6 and len(outcomes) == 16
    assert set(outcomes.values()) == {"passed"}, outcomes
