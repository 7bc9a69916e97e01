"""The syringe table: which syringe is in the pump decides how far the plunger moves per mL.

A 50 mL BD Plastipak (26.70 mm bore) and a 50 mL B. Braun Omnifix (29.20 mm) differ by about
20 % in area, so loading the wrong type is a 20 % dose error. Syringes are named by an exact id
("bd_plastipak_50") that is part of the prescription and confirmed by the operator.
"""

from firmware.datafile import data_path, load_json
from firmware.errors import UNKNOWN_SYRINGE, Rejected


class Syringe:
    def __init__(self, syringe_id: str, make: str, size_ml: int, inner_diameter_um: int, capacity_ul: int) -> None:
        self.id = syringe_id
        self.make = make
        self.size_ml = size_ml
        self.inner_diameter_um = inner_diameter_um
        self.capacity_ul = capacity_ul


class SyringeTable:
    def __init__(self, doc: dict) -> None:
        self.version = doc["table_version"]
        self._by_id = {}
        for e in doc["syringes"]:
            self._by_id[e["id"]] = Syringe(e["id"], e["make"], e["size_ml"], e["inner_diameter_um"], e["capacity_ul"])

    @classmethod
    def load(cls, path: str = "") -> "SyringeTable":
        return cls(load_json(path or data_path("syringes.json")))

    def ids(self) -> list:
        return sorted(self._by_id)

    def get(self, syringe_id: str) -> Syringe:
        s = self._by_id.get(syringe_id)
        if s is None:
            raise Rejected(UNKNOWN_SYRINGE, "syringe", syringe_id, self.choices())
        return s

    def choices(self) -> str:
        """The ids, compactly: "bd_plastipak_5/10/20/30/50,..." (fits on one protocol line)."""
        sizes = {}
        for i in self.ids():
            make, _, size = i.rpartition("_")
            sizes.setdefault(make, []).append(int(size))
        return ",".join(["%s_%s" % (m, "/".join([str(n) for n in sorted(sizes[m])])) for m in sorted(sizes)])
