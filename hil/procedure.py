"""The bench procedure: what hands must do between the acceptance suite's steps on a real bench.

A delivery case needs a syringe of the right make and fill, the occlusion test a clamp closed
and opened at the right moment, the recovery test the power cut. On the virtual board the
simulated plant does this; on a bench either the operator does it when prompted (`--operator`)
or a rig does it with relays, described as data (`--fixture FILE`):

    [ports]                       # line-oriented controllers the rig's actions talk to
    rig = { url = "/dev/ttyUSB1", baudrate = 115200 }     # "${VAR}" is taken from the environment

    [steps]                       # every step below, each a list of actions in order
    connect_balance = []                                        # nothing to do: fixed in place
    load_syringe = [{ send = "rig", line = "LOAD {syringe} {fill_ml}", expect = "OK", timeout_s = 120 }]
    close_clamp = [{ send = "rig", line = "CLAMP CLOSE", expect = "OK" }, { wait_s = 0.5 }]

An action either sends a line to a port and waits for an answer line starting with `expect`
(default "OK"), or waits `wait_s` seconds. `{name}` in a line is the step's parameter. Every
step is logged with its time and how it was done, for the report.
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
from pathlib import Path

# step: (prompt for the operator, the parameters it takes)
STEPS = {
    "connect_balance": ("Put the line's outlet into the vessel on the balance (touching nothing) and close "
                        "the draught shield.", ()),
    "load_syringe": ("Load a {syringe} syringe holding {fill_ml:g} mL of water, purged of air, plunger "
                     "engaged, the line open to the balance.", ("syringe", "fill_ml")),
    "close_clamp": ("Close the clamp on the line, just above the balance (occlusion test).", ()),
    "open_clamp": ("Open the clamp on the line again.", ()),
    "remove_syringe": ("Pull the syringe out of its holder now, while the pump runs.", ()),
    "cut_power": ("Cut the pump's power, wait {off_s:g} s, then restore it.", ("off_s",)),
}
ACTION_KEYS = {"send": str, "line": str, "expect": str, "timeout_s": (int, float), "wait_s": (int, float)}


class ProcedureError(Exception):
    """A fixture file or a step that could not be carried out: what, where, and what to check."""


class Declined(Exception):
    """The operator said a step cannot be done now (the test is skipped, with the reason)."""


class Procedure:
    """Carries out bench steps and logs them: [(wall time, step, text, how)]."""

    how = "?"

    def __init__(self) -> None:
        self.log: list[tuple[float, str, str, str]] = []

    def do(self, step: str, **params) -> None:
        if step not in STEPS:
            raise ProcedureError(f"unknown bench step {step!r}; steps: {', '.join(STEPS)}")
        text = STEPS[step][0].format(**params)
        self._carry_out(step, text, params)
        self.log.append((time.time(), step, text, self.how))

    def _carry_out(self, step: str, text: str, params: dict) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class OperatorProcedure(Procedure):
    """Prompts on the terminal (bypassing pytest's capture) and waits for Enter; "n" declines."""

    how = "operator"

    def __init__(self, ask=None) -> None:
        super().__init__()
        self._ask = ask or _ask_on_tty

    def _carry_out(self, step: str, text: str, params: dict) -> None:
        answer = self._ask(f"\n[bench] {text}\n        Enter when done, n if it cannot be done: ").strip().lower()
        if answer in ("n", "no"):
            raise Declined(f"the operator could not do the step {step!r}: {text}")


def _ask_on_tty(prompt: str) -> str:
    try:
        with open("/dev/tty", "r+") as tty:
            tty.write(prompt)
            tty.flush()
            return tty.readline()
    except OSError:
        sys.stderr.write(prompt)
        return input()


class FixtureProcedure(Procedure):
    """A rig's relay actions, from a TOML file (see the module docstring)."""

    how = "fixture"

    def __init__(self, path: str | Path, open_port=None) -> None:
        super().__init__()
        self.path = Path(path)
        self._open_port = open_port
        try:
            doc = tomllib.loads(self.path.read_text())
        except FileNotFoundError as e:
            raise ProcedureError(f"fixture file {self.path} does not exist") from e
        except tomllib.TOMLDecodeError as e:
            raise ProcedureError(f"fixture file {self.path}: {e}") from e
        self.ports = self._ports(doc.get("ports", {}))
        self.steps = self._steps(doc.get("steps"))
        self._open: dict = {}
        unknown = set(doc) - {"ports", "steps"}
        if unknown:
            raise ProcedureError(f"fixture file {self.path}: unknown section(s) {', '.join(sorted(unknown))}; "
                                 "allowed: ports, steps")

    def _ports(self, ports) -> dict:
        out = {}
        for name, spec in ports.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
                raise ProcedureError(f"fixture file {self.path}: ports.{name} = {spec!r}; give "
                                     '{ url = "/dev/ttyUSB1", baudrate = 115200 }')
            url = os.path.expandvars(spec["url"])
            if "$" in url:
                raise ProcedureError(f"fixture file {self.path}: ports.{name}.url = {spec['url']!r} names an "
                                     "environment variable that is not set")
            out[name] = (url, int(spec.get("baudrate", 115200)))
        return out

    def _steps(self, steps) -> dict:
        if not isinstance(steps, dict):
            raise ProcedureError(f"fixture file {self.path}: no [steps] table; give one list of actions for "
                                 f"each of: {', '.join(STEPS)}")
        missing = [s for s in STEPS if s not in steps]
        unknown = [s for s in steps if s not in STEPS]
        if missing or unknown:
            raise ProcedureError(f"fixture file {self.path}: steps missing: {', '.join(missing) or 'none'}; "
                                 f"unknown: {', '.join(unknown) or 'none'}; the suite's steps: {', '.join(STEPS)}")
        for step, actions in steps.items():
            if not isinstance(actions, list):
                raise ProcedureError(f"fixture file {self.path}: steps.{step} = {actions!r}; give a list of actions")
            for i, action in enumerate(actions):
                self._check_action(f"steps.{step}[{i}]", action, STEPS[step][1])
        return steps

    def _check_action(self, where: str, action, params: tuple) -> None:
        if not isinstance(action, dict):
            raise ProcedureError(f"fixture file {self.path}: {where} = {action!r}; give a table")
        for key, value in action.items():
            if key not in ACTION_KEYS:
                raise ProcedureError(f"fixture file {self.path}: {where}.{key}: unknown key; allowed: "
                                     f"{', '.join(ACTION_KEYS)}")
            if not isinstance(value, ACTION_KEYS[key]) or isinstance(value, bool):
                raise ProcedureError(f"fixture file {self.path}: {where}.{key} = {value!r} has the wrong type")
        if ("send" in action) == ("wait_s" in action):
            raise ProcedureError(f"fixture file {self.path}: {where}: give either send (with line) or wait_s")
        if "send" in action:
            if action["send"] not in self.ports:
                raise ProcedureError(f"fixture file {self.path}: {where}.send = {action['send']!r}; ports: "
                                     f"{', '.join(self.ports) or 'none (add a [ports] table)'}")
            if "line" not in action:
                raise ProcedureError(f"fixture file {self.path}: {where}: send needs a line")
            try:
                action["line"].format(**{p: 1 for p in params})
            except (KeyError, IndexError) as e:
                raise ProcedureError(f"fixture file {self.path}: {where}.line uses {e}; this step gives: "
                                     f"{', '.join(params) or 'nothing'}") from e
        elif not 0 <= action["wait_s"] <= 3600:
            raise ProcedureError(f"fixture file {self.path}: {where}.wait_s = {action['wait_s']}; allowed 0..3600")

    def _carry_out(self, step: str, text: str, params: dict) -> None:
        for action in self.steps[step]:
            if "wait_s" in action:
                time.sleep(action["wait_s"])
                continue
            port = self._port(action["send"])
            line = action["line"].format(**params)
            expect = action.get("expect", "OK")
            port.reset_input_buffer()
            port.write(line.encode() + b"\n")
            answer = self._readline(port, action.get("timeout_s", 30.0))
            if not answer.startswith(expect):
                raise ProcedureError(f"bench step {step}: {self.path} sent {line!r} to {action['send']} "
                                     f"({self.ports[action['send']][0]}) and got {answer!r}, expected {expect!r}")

    def _port(self, name: str):
        if name not in self._open:
            url, baudrate = self.ports[name]
            if self._open_port is None:
                import serial

                self._open_port = serial.serial_for_url
            self._open[name] = self._open_port(url, baudrate=baudrate, timeout=0.1)
        return self._open[name]

    @staticmethod
    def _readline(port, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        buf = b""
        while time.monotonic() < deadline:
            buf += port.read(256)
            if b"\n" in buf:
                return buf.split(b"\n", 1)[0].decode("ascii", "replace").strip()
        return buf.decode("ascii", "replace").strip() or "(nothing)"

    def close(self) -> None:
        for port in self._open.values():
            port.close()
        self._open.clear()


def load(operator: bool, fixture: str | None) -> Procedure | None:
    """The bench's hands: a fixture file, the operator, or none (steps needing hands are skipped)."""
    if operator and fixture:
        raise ProcedureError("give --operator or --fixture FILE, not both")
    if fixture:
        return FixtureProcedure(fixture)
    return OperatorProcedure() if operator else None
