"""Board backends: the one place that knows how a control tick reaches the firmware.

The engine's board process (`sim/board.py`) owns time and the plant. Every tick_ms it hands
the backend what the board's pins show (the load cell's latest conversion and how many there
have been, the switch bits) and the bytes the host sent on the command link; the backend runs
one firmware tick of dt_ms and answers with what the board drives (the counted STEP-line
position, the driver's enable, the controller state) and the bytes the firmware wrote. Nothing
else in the engine is written per backend.

A backend must:

- `boot()`: power on. The firmware starts from its storage (an empty flash the first time),
  its STEP counter at 0, and `version` names where it runs (e.g. "micropython 1.29.0").
- `tick(dt_ms, inputs, rx) -> (BoardOutputs, tx)`: advance the firmware's clock by dt_ms with
  these inputs and link bytes, run one main-loop step, return the outputs and the link bytes
  written (b"" if none). Deterministic: the same calls give the same answers. A firmware that
  stopped is a RuntimeError carrying what it printed.
- `power_cut()`: power off now. Whatever the firmware was doing stops; its storage (flash) is
  kept as the last completed write left it; RAM, clock and counters are lost. `boot()` again
  brings it back, and its STEP counter starts at 0 again.
- `quit()`: end for good (processes stopped, temporary files removed); safe to call twice.

Backends are constructed as `Backend(board, storage_dir)`: the board's name under boards/ and
a folder for its flash (None: the backend keeps the flash wherever it likes, but still across
power cuts). `open_backend(runtime, ...)` picks one by name from BACKENDS.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[1]

# runtime name -> "module:Class"; imported only when chosen.
BACKENDS = {
    "cpython": "sim.in_process:InProcessBackend",
    "micropython": "sim.bus:MicroPythonBackend",
}


class BoardInputs:
    """What the plant shows the board's pins for one tick."""

    __slots__ = ("force_raw", "force_samples", "switches")

    def __init__(self, force_raw: int, force_samples: int, switches: int) -> None:
        self.force_raw = force_raw
        self.force_samples = force_samples
        self.switches = switches


class BoardOutputs:
    """What the board drives after a tick: STEP-line position, driver enable, controller state."""

    __slots__ = ("position", "enabled", "state")

    def __init__(self, position: int, enabled: bool, state: int) -> None:
        self.position = position
        self.enabled = enabled
        self.state = state


class BoardBackend(Protocol):
    runtime: str
    version: str

    def boot(self) -> None: ...

    def tick(self, dt_ms: int, inputs: BoardInputs, rx: bytes) -> tuple[BoardOutputs, bytes]: ...

    def power_cut(self) -> None: ...

    def quit(self) -> None: ...


def board_json(board: str) -> Path:
    path = ROOT / "boards" / board / "board.json"
    if not path.exists():
        raise FileNotFoundError(f"no board definition {path.relative_to(ROOT)}")
    return path


def open_backend(runtime: str, board: str = "VIRTUAL", storage_dir: Path | None = None) -> BoardBackend:
    """The backend named `runtime` for `board`, not yet booted."""
    if runtime not in BACKENDS:
        raise ValueError(f"runtime {runtime!r}: choose {' or '.join(BACKENDS)}")
    board_json(board)
    module, _, name = BACKENDS[runtime].partition(":")
    return getattr(importlib.import_module(module), name)(board, storage_dir)
