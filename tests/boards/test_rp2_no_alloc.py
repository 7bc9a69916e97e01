"""firmware.hal.rp2 allocates nothing in the methods the control loop calls: each runs inside the
real MicroPython interpreter under micropython.heap_lock() (tests/boards/mpy_alloc_probe.py)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MICROPYTHON = Path(sys.executable).parent / "micropython"


def test_control_loop_methods_run_with_the_heap_locked(tmp_path):
    """Every probed method prints "ok": none raised MemoryError with the heap locked."""
    proc = subprocess.run([str(MICROPYTHON), "tests/boards/mpy_alloc_probe.py", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    lines = proc.stdout.split("\n")
    assert proc.returncode == 0 and "done" in lines, proc.stdout + proc.stderr
    probed = [line for line in lines if line.startswith(("ok ", "alloc "))]
    assert len(probed) == 13
    # The calibration line proves the lock bites: building a list must fail under it.
    assert [line for line in probed if line.startswith("alloc ")] == ["alloc a new list (calibration: must allocate)"]
