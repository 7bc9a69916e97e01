"""One benchmark figure, and the table and JSON file they end up in."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """value / baseline (for times to alarm: how many times faster is baseline / value)."""
        if self.baseline in (None, 0) or self.value == 0:
            return None
        return round(self.value / self.baseline, 3)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


def table(figures: list[Figure]) -> str:
    rows = [("figure", "value", "unit", "baseline", "ratio", "target")]
    for f in figures:
        rows.append((f.name, _num(f.value), f.unit, "" if f.baseline is None else f"{_num(f.baseline)} ({f.baseline_label})",
                     "" if f.ratio is None else _num(f.ratio), f.target))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def write(figures: list[Figure], path: Path, wall_s: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"machine": {"python": platform.python_version(), "cpus": _cpus()}, "wall_s": round(wall_s, 1),
           "figures": [f.as_dict() for f in figures]}
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _cpus() -> int:
    import os

    return os.cpu_count() or 1
