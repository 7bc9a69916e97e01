"""The drug library: which drugs, concentrations and doses the pump accepts.

Set by a pharmacist, kept as data (`firmware/data/drug_library.json`). Each profile has a
mode: "dose_over_duration" (ketamine for depression: 0.5 mg/kg over 40 min) or "dose_rate"
(ketamine for pain: 0.2 mg/kg/h for hours), and which vitals must be fresh to start (a
monitored session). Every limit is a pair of inclusive ranges: outside
the hard range the entry is refused and re-entered; outside the soft range it is accepted only
after the operator confirms the named override (the Guardrails behaviour of commercial pumps).

A profile flagged "test_only" (water or saline for bench work) is for the SERVICE state only:
firmware/service.py refuses it outside service and refuses every clinical profile inside, and
a test-only profile may carry no cumulative limit (its infusions deliver no drug).
"""

from firmware.datafile import data_path, load_json
from firmware.errors import UNKNOWN_CONCENTRATION, UNKNOWN_DRUG, UNKNOWN_PROFILE, Rejected
from firmware.vitals import KINDS as VITALS_KINDS

DOSE_OVER_DURATION = "dose_over_duration"
DOSE_RATE = "dose_rate"
MODES = (DOSE_OVER_DURATION, DOSE_RATE)


class Limit:
    """Hard and optional soft inclusive ranges for one field, in the field's integer unit."""

    def __init__(self, hard: list, soft: list) -> None:
        self.hard_min = hard[0]
        self.hard_max = hard[1]
        self.soft_min = soft[0] if soft else hard[0]
        self.soft_max = soft[1] if soft else hard[1]

    @classmethod
    def from_doc(cls, doc: dict) -> "Limit":
        return cls(doc["hard"], doc.get("soft", []))

    def within_hard(self, value: int) -> bool:
        return self.hard_min <= value <= self.hard_max

    def within_soft(self, value: int) -> bool:
        return self.soft_min <= value <= self.soft_max

    def hard_text(self) -> str:
        return "%d..%d" % (self.hard_min, self.hard_max)

    def soft_text(self) -> str:
        return "%d..%d" % (self.soft_min, self.soft_max)


class Profile:
    def __init__(self, drug: str, name: str, doc: dict) -> None:
        self.drug = drug
        self.name = name
        self.mode = doc["mode"]
        if self.mode not in MODES:
            raise ValueError("profile %s/%s: mode %r is not one of %s" % (drug, name, self.mode, MODES))
        self.concentrations_ug_ml = list(doc["concentrations_ug_ml"])
        self.test_only = doc.get("test_only", False) is True
        self.limits = {}
        for field in ("dose_ug_kg", "rate_ug_kg_h", "duration_min", "cumulative_ug_kg_24h"):
            if field in doc:
                self.limits[field] = Limit.from_doc(doc[field])
        # readings (bp, hr, spo2) that must be fresh before START and RESUME
        self.vitals_required = list(doc.get("vitals_required", []))
        for kind in self.vitals_required:
            if kind not in VITALS_KINDS:
                raise ValueError("profile %s/%s: vitals_required %r is not one of %s" % (drug, name, kind, VITALS_KINDS))
        if self.test_only and "cumulative_ug_kg_24h" in self.limits:
            raise ValueError("profile %s/%s: a test-only profile has no cumulative limit" % (drug, name))

    def limit(self, field: str):
        return self.limits.get(field)

    def check_concentration(self, conc_ug_ml: int) -> None:
        if conc_ug_ml not in self.concentrations_ug_ml:
            allowed = ",".join([str(c) for c in self.concentrations_ug_ml])
            raise Rejected(UNKNOWN_CONCENTRATION, "conc_ug_ml", conc_ug_ml, allowed)


class DrugLibrary:
    def __init__(self, doc: dict) -> None:
        self.version = doc["library_version"]
        self.weight_g = Limit.from_doc(doc["weight_g"])
        self._profiles = {}
        for drug, ddoc in doc["drugs"].items():
            for name, pdoc in ddoc["profiles"].items():
                self._profiles[(drug, name)] = Profile(drug, name, pdoc)

    @classmethod
    def load(cls, path: str = "") -> "DrugLibrary":
        return cls(load_json(path or data_path("drug_library.json")))

    def drugs(self) -> list:
        return sorted(set([d for d, _ in self._profiles]))

    def profiles(self, drug: str) -> list:
        return sorted([p for d, p in self._profiles if d == drug])

    def test_profiles(self) -> list:
        """"drug/profile" of every test-only profile (what the SERVICE state accepts)."""
        return sorted(["%s/%s" % key for key in self._profiles if self._profiles[key].test_only])

    def profile(self, drug: str, name: str) -> Profile:
        if drug not in self.drugs():
            raise Rejected(UNKNOWN_DRUG, "drug", drug, ",".join(self.drugs()))
        p = self._profiles.get((drug, name))
        if p is None:
            raise Rejected(UNKNOWN_PROFILE, "profile", name, ",".join(self.profiles(drug)))
        return p
