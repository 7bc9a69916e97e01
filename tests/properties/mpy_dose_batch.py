"""Reads prescriptions (JSON list on stdin), prints the firmware's integers for each as JSON.

Run by tests/properties/test_dosing_props.py under MicroPython; the same function runs under
CPython there, and the two outputs must be identical.
"""

import json
import sys

sys.path.insert(0, ".")


def evaluate(batch):
    from firmware.board import Board
    from firmware.errors import Rejected
    from firmware.library import DrugLibrary
    from firmware.prescription import validate
    from firmware.syringes import SyringeTable

    library = DrugLibrary.load()
    syringes = SyringeTable.load()
    boards = {}
    out = []
    for item in batch:
        name = item["board"]
        if name not in boards:
            boards[name] = Board.load(name)
        try:
            p = validate(item["rx"], library, syringes, boards[name].drive, item.get("prior_ug_24h", 0))
            out.append([p.total_ug, p.volume_nl, p.total_steps, p.rate_nl_h, p.duration_ms, sorted(p.soft_fields)])
        except Rejected as e:
            out.append([e.code, e.field, str(e.value), e.allowed])
    return out


if __name__ == "__main__":
    print(json.dumps(evaluate(json.loads(sys.stdin.read()))))
