"""A fault for the report's failing-run test: in the hard-limit case the harness prescribes from
a vial ten times as strong as the one it names (the classic 10x concentration error).

Loaded with `-p tests.hil.wrong_vial`: test_hard_limit_is_refused then sends ten times the
concentration, the pump refuses it as not in the library instead of over the hard limit, and the
test fails the way a real one would, with the exchange in its serial log. Other tests are untouched.
"""

import pytest

from hil.acceptance import helpers

_right_vial = helpers.prescription


def _ten_times_too_strong(*args, **kwargs) -> dict:
    rx = _right_vial(*args, **kwargs)
    return {**rx, "conc_ug_ml": rx["conc_ug_ml"] * 10}


@pytest.fixture(autouse=True)
def _wrong_vial(monkeypatch, request):
    module = request.module
    if request.node.originalname == "test_hard_limit_is_refused" and getattr(module, "prescription", None) is _right_vial:
        monkeypatch.setattr(module, "prescription", _ten_times_too_strong)
