"""The bench procedure (hil/procedure.py): the operator's prompts and the rig's fixture file,
its errors named, and its actions carried out against the virtual rig's relay port."""

import pytest

from hil import procedure
from hil.procedure import FixtureProcedure, OperatorProcedure, ProcedureError
from hil.virtual_rig import FIXTURE

GOOD = FIXTURE.read_text()


def _fixture(tmp_path, text):
    path = tmp_path / "rig.toml"
    path.write_text(text)
    return path


def test_operator_is_prompted_with_the_step_and_its_values():
    asked = []
    op = OperatorProcedure(ask=lambda prompt: asked.append(prompt) or "")
    op.do("load_syringe", syringe="terumo_20", fill_ml=16.25)
    assert "Load a terumo_20 syringe holding 16.25 mL of water" in asked[0]
    assert [(step, how) for _, step, _, how in op.log] == [("load_syringe", "operator")]


def test_operator_may_decline_a_step():
    op = OperatorProcedure(ask=lambda prompt: "n")
    with pytest.raises(procedure.Declined, match="close_clamp"):
        op.do("close_clamp")
    assert op.log == []


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace('open_clamp = [{ send = "rig", line = "CLAMP OPEN", expect = "OK" }]\n', ""),
     "steps missing: open_clamp"),
    (lambda t: t + 'wash_hands = []\n', "unknown: wash_hands"),
    (lambda t: t.replace('"CLAMP CLOSE", expect', '"CLAMP CLOSE", expekt'), r"steps.close_clamp\[0\].expekt: unknown key"),
    (lambda t: t.replace('send = "rig", line = "SYRINGE OUT"', 'send = "relays", line = "SYRINGE OUT"'),
     r"steps.remove_syringe\[0\].send = 'relays'; ports: rig"),
    (lambda t: t.replace("LOAD {syringe} {fill_ml}", "LOAD {syringe} {volume}"), "uses 'volume'; this step gives: syringe, fill_ml"),
    (lambda t: t.replace("${HIL_RIG_PORT}", "${NO_SUCH_RIG_PORT}"), "environment variable that is not set"),
    (lambda t: t.replace("[steps]", "[stepz]"), "no \\[steps\\] table"),
])
def test_fixture_file_errors_name_the_key(tmp_path, monkeypatch, change, message):
    monkeypatch.setenv("HIL_RIG_PORT", "/dev/null")
    with pytest.raises(ProcedureError, match=message):
        FixtureProcedure(_fixture(tmp_path, change(GOOD)))


def test_missing_fixture_file_is_named(tmp_path):
    with pytest.raises(ProcedureError, match="rig.toml does not exist"):
        FixtureProcedure(tmp_path / "rig.toml")


def test_operator_and_fixture_together_are_refused():
    with pytest.raises(ProcedureError, match="not both"):
        procedure.load(True, str(FIXTURE))


def test_fixture_drives_the_virtual_rig(monkeypatch):
    """Each step's line reaches the rig's relay port and the plant changes accordingly."""
    from hil.virtual_rig import VirtualRig

    with VirtualRig(runtime="cpython") as rig:
        monkeypatch.setenv("HIL_RIG_PORT", rig.port)
        proc = FixtureProcedure(FIXTURE)
        try:
            proc.do("load_syringe", syringe="terumo_30", fill_ml=12.5)
            proc.do("close_clamp")
            proc.do("connect_balance")
        finally:
            proc.close()
        assert rig.bench.plant.syringe_id == "terumo_30"
        assert rig.handled == [("LOAD terumo_30 12.5", "OK"), ("CLAMP CLOSE", "OK")]


def test_a_refused_action_stops_the_step_with_the_rigs_answer(monkeypatch):
    from hil.virtual_rig import VirtualRig

    with VirtualRig(runtime="cpython") as rig:
        monkeypatch.setenv("HIL_RIG_PORT", rig.port)
        proc = FixtureProcedure(FIXTURE)
        try:
            with pytest.raises(ProcedureError, match="(?s)LOAD no_such_syringe 5.*ERR"):
                proc.do("load_syringe", syringe="no_such_syringe", fill_ml=5)
        finally:
            proc.close()
