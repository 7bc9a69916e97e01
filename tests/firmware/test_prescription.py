"""Prescription validation: hard limits reject, soft limits ask, unknowns reject, nothing half-applied."""

from firmware import errors
from firmware.controller import AWAITING_CONFIRMATION, IDLE, PROGRAMMED
from firmware.errors import Rejected
from firmware.prescription import validate
from tests.firmware.checks import raises
from tests.firmware.fixtures import LIBRARY, SYRINGES, board, controller, pain_rx, standard_rx


def _validate(rx, prior_ug_24h=0):
    return validate(rx, LIBRARY, SYRINGES, board().drive, prior_ug_24h)


def test_standard_prescription_programs_without_confirmation():
    """The typical depression dose is within every soft limit."""
    p = _validate(standard_rx())
    assert p.soft_fields == ()
    assert p.total_ug == 35000 and p.volume_nl == 3500000
    assert p.duration_ms == 40 * 60000
    assert p.rate_nl_h == 5250000  # 3.5 mL over 40 min = 5.25 mL/h


def test_pain_profile_programs():
    """The mg/kg/h profile computes its total from rate and duration."""
    p = _validate(pain_rx())
    assert p.total_ug == 28000 and p.volume_nl == 28000000
    assert p.rate_nl_h == 14000000


def _assert_rejected(rx, code, field, prior_ug_24h=0):
    e = raises(Rejected, _validate, rx, prior_ug_24h)
    assert e.code == code, (e.code, code)
    assert e.field == field, (e.field, field)
    return e


def test_hard_limits_reject_with_field_value_and_range():
    """Each hard limit names its field, the value entered and the allowed range."""
    e = _assert_rejected(standard_rx(dose_ug_kg=1001), errors.HARD_LIMIT, "dose_ug_kg")
    assert e.value == 1001 and e.allowed == "50..1000"
    _assert_rejected(standard_rx(dose_ug_kg=49), errors.HARD_LIMIT, "dose_ug_kg")
    _assert_rejected(standard_rx(duration_min=19), errors.HARD_LIMIT, "duration_min")
    _assert_rejected(standard_rx(duration_min=241), errors.HARD_LIMIT, "duration_min")
    _assert_rejected(standard_rx(weight_g=19999), errors.HARD_LIMIT, "weight_g")
    _assert_rejected(standard_rx(weight_g=250001), errors.HARD_LIMIT, "weight_g")
    _assert_rejected(pain_rx(rate_ug_kg_h=1501), errors.HARD_LIMIT, "rate_ug_kg_h")
    _assert_rejected(pain_rx(duration_min=1441), errors.HARD_LIMIT, "duration_min")


def test_derived_rate_limit():
    """1.0 mg/kg over 20 min is 3 mg/kg/h (allowed); faster than that is refused."""
    _validate(standard_rx(dose_ug_kg=1000, duration_min=20, conc_ug_ml=10000))
    _assert_rejected(standard_rx(dose_ug_kg=1000, duration_min=19), errors.HARD_LIMIT, "duration_min")


def test_unknown_values_reject():
    """Unknown drug, profile, syringe or concentration are refused by name."""
    _assert_rejected(standard_rx(drug="ketamin"), errors.UNKNOWN_DRUG, "drug")
    _assert_rejected(standard_rx(profile="sedation"), errors.UNKNOWN_PROFILE, "profile")
    e = _assert_rejected(standard_rx(syringe="bd_plastipak_60"), errors.UNKNOWN_SYRINGE, "syringe")
    assert "bd_plastipak_5/10/20/30/50" in e.allowed and "terumo_5/10/20/30/50" in e.allowed
    e = _assert_rejected(standard_rx(conc_ug_ml=50000), errors.UNKNOWN_CONCENTRATION, "conc_ug_ml")
    assert e.allowed == "1000,10000"
    _assert_rejected(pain_rx(conc_ug_ml=10000), errors.UNKNOWN_CONCENTRATION, "conc_ug_ml")


def test_missing_and_malformed_fields_reject():
    """A field left out or of the wrong type is named."""
    _assert_rejected(standard_rx(weight_g=None), errors.MISSING_FIELD, "weight_g")
    _assert_rejected(standard_rx(syringe=None), errors.MISSING_FIELD, "syringe")
    _assert_rejected(standard_rx(weight_g="70000"), errors.BAD_VALUE, "weight_g")
    _assert_rejected(standard_rx(dose_ug_kg=True), errors.BAD_VALUE, "dose_ug_kg")


def test_volume_must_fit_the_syringe():
    """0.75 mg/kg x 150 kg at 1 mg/mL is 112.5 mL: more than a 50 mL syringe holds."""
    _assert_rejected(standard_rx(dose_ug_kg=750, weight_g=150000, conc_ug_ml=1000), errors.VOLUME_EXCEEDS_SYRINGE, "volume_nl")


def test_cumulative_daily_limit_counts_earlier_infusions():
    """0.5 mg/kg today already plus 0.6 mg/kg now exceeds 1.0 mg/kg per 24 h."""
    _validate(standard_rx(dose_ug_kg=500), prior_ug_24h=35000)  # exactly 1.0 mg/kg: allowed
    _assert_rejected(standard_rx(dose_ug_kg=600), errors.CUMULATIVE_LIMIT, "cumulative_ug_kg_24h", prior_ug_24h=35000)


def test_soft_limits_need_named_confirmation():
    """A 0.8 mg/kg dose waits for confirmation naming dose_ug_kg, and only that."""
    vb, ctl = controller()
    p = ctl.program_prescription(standard_rx(dose_ug_kg=800))
    assert p.soft_fields == ("dose_ug_kg",)
    assert ctl.state == AWAITING_CONFIRMATION
    e = raises(Rejected, ctl.start)
    assert e.code == errors.BAD_STATE
    e = raises(Rejected, ctl.confirm, ["duration_min"])
    assert e.code == errors.CONFIRMATION_MISMATCH and ctl.state == AWAITING_CONFIRMATION
    ctl.confirm(["dose_ug_kg"])
    assert ctl.state == PROGRAMMED


def test_several_soft_breaches_are_all_named():
    """Weight and duration both outside soft limits: both must be confirmed."""
    p = _validate(standard_rx(weight_g=35000, duration_min=120))
    assert sorted(p.soft_fields) == ["duration_min", "weight_g"]


def test_rejection_leaves_controller_unchanged():
    """Every refused entry leaves the state and the held program exactly as they were."""
    vb, ctl = controller()
    bad = (standard_rx(dose_ug_kg=5000), standard_rx(drug="x"), standard_rx(syringe="x"),
           standard_rx(conc_ug_ml=3), standard_rx(weight_g=None), pain_rx(rate_ug_kg_h=9999))
    for rx in bad:
        raises(Rejected, ctl.program_prescription, rx)
        assert ctl.state == IDLE and ctl.program is None
    good = ctl.program_prescription(standard_rx())
    for rx in bad:
        raises(Rejected, ctl.program_prescription, rx)
        assert ctl.state == PROGRAMMED and ctl.program is good


def test_stray_fields_are_refused():
    """A key the profile does not use (a rate on a dose profile, a typo) is refused by name."""
    e = _assert_rejected(standard_rx(rate_ug_kg_h=200), errors.BAD_VALUE, "rate_ug_kg_h")
    assert "dose_ug_kg" in e.allowed
    _assert_rejected(standard_rx(weigth_g=70000), errors.BAD_VALUE, "weigth_g")


def test_another_weight_than_the_patients_is_refused_naming_both():
    """Doses of the last 24 h went to a 70 kg patient: 150 kg is refused whatever room it would
    make, naming the entered weight and the recorded one; the recorded weight is checked as usual."""
    e = raises(Rejected, validate, standard_rx(weight_g=150000), LIBRARY, SYRINGES, board().drive, 70000, 70000)
    assert (e.code, e.field, e.value, e.allowed) == (errors.PATIENT_MISMATCH, "weight_g", 150000, "70000")
    e = raises(Rejected, validate, standard_rx(dose_ug_kg=50), LIBRARY, SYRINGES, board().drive, 70000, 70000)
    assert e.code == errors.CUMULATIVE_LIMIT and e.value == 1050
    assert validate(standard_rx(weight_g=150000), LIBRARY, SYRINGES, board().drive, 0, None).weight_g == 150000
