"""The simulated operator: types commands on the pump's command link, one at a time.

An operator action is a script, a SimPy process that yields commands and receives their
answers (e.g. program, confirm the soft-limit fields the pump names, then start). The
keyboard is a `simpy.Resource` of one: scripts take turns, and within a script one command is
outstanding at a time, as a person at the pump works. A command's bytes go to the board with
its next tick and the answer comes back in that tick's output. Uses the protocol's own frame
codec, so the simulator exercises exactly the path a tester's terminal or the HIL harness does.

The operator is the board process's link: `take_rx()` gives the board what was typed since
its last tick, `put_tx()` takes what the board wrote. A command with no answer after RETRY_MS
(typed while the pump had no power, say) is sent again under the same number, as the HIL
client retries; the pump answers a repeat without acting twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generator

import simpy
from simpy.events import Event

from firmware import frames

Script = Generator[Event, Any, None]
RETRY_MS = 2000


@dataclass
class Answer:
    ok: bool
    command: str
    values: dict[str, Any]

    @property
    def code(self) -> str:
        return "" if self.ok else str(self.values.get("code", ""))

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


class Operator:
    def __init__(self, env: simpy.Environment, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.env = env
        self.keyboard = simpy.Resource(env, capacity=1)
        self.on_event = on_event
        self.seq = 0
        self.events: list[dict[str, Any]] = []
        self.answers: list[Answer] = []
        self._outbox = b""
        self._awaiting: tuple[int, Event] | None = None  # (seq, answer event) of the outstanding command
        self._sent: tuple[str, dict[str, Any] | None] = ("", None)
        self._frame = b""  # the outstanding command as typed, and when
        self._sent_ms = 0

    def run(self, script: Callable[..., Script], *args: Any) -> simpy.Process:
        """Start a script once the keyboard is free; the process's value is the script's."""
        return self.env.process(self._at_keyboard(script, args))

    def command(self, cmd: str, **kv: Any) -> simpy.Process:
        """A one-command script; its value is the Answer."""
        return self.run(_one, cmd, kv)

    def _at_keyboard(self, script: Callable[..., Script], args: tuple) -> Generator[Event, Any, Any]:
        with self.keyboard.request() as turn:
            yield turn
            return (yield from script(self, *args))

    def send(self, cmd: str, kv: dict[str, Any] | None = None) -> Event:
        """Type one command (within a script); the event's value is its Answer."""
        assert self._awaiting is None, "one command at a time"
        answer = Event(self.env)
        self._type(cmd, kv, frames.next_seq(self.seq), answer)
        return answer

    def _type(self, cmd: str, kv: dict[str, Any] | None, seq: int, answer: Event) -> None:
        self.seq = seq
        self._sent = (cmd, kv)
        self._awaiting = (seq, answer)
        self._frame = frames.seal(f"{seq} {cmd}" + (" " + frames.format_pairs(kv.items()) if kv else ""))
        self._sent_ms = self.env.now
        self._outbox += self._frame

    # ---- the board's link -------------------------------------------------------------------
    def take_rx(self) -> bytes:
        if self._awaiting is not None and self.env.now - self._sent_ms >= RETRY_MS:
            self._outbox += self._frame
            self._sent_ms = self.env.now
        out, self._outbox = self._outbox, b""
        return out

    def put_tx(self, tx: bytes) -> None:
        for line in tx.split(b"\n"):
            if line:
                self._line(line)

    def _line(self, line: bytes) -> None:
        body, crc = frames.split_crc(line)
        if crc is None or not frames.crc_ok(body, crc):
            raise RuntimeError(f"damaged line from the board: {line!r}")
        text = body.decode()
        if text.startswith("! "):
            kind, _, rest = text[2:].partition(" ")
            if kind == "EVT":
                ev = frames.parse_pairs(rest.split(" "))
                self.events.append(ev)
                if self.on_event:
                    self.on_event(ev)
            return
        tag, _, rest = text.partition(" ")
        if self._awaiting is not None and rest.startswith("ERR SEQ_ORDER "):
            # The pump was reset: it continues after every number it may have accepted before,
            # and names the next one; the same command goes again under that number.
            allowed = frames.parse_pairs(rest.split(" ")[2:])["allowed"]
            self._type(self._sent[0], self._sent[1], allowed, self._awaiting[1])
            return
        if self._awaiting is None or tag != str(self._awaiting[0]):
            return
        answer = _answer(rest)
        self.answers.append(answer)
        event = self._awaiting[1]
        self._awaiting = None
        event.succeed(answer)


def _answer(rest: str) -> Answer:
    status, _, tail = rest.partition(" ")
    if status == "OK":
        name, _, pairs = tail.partition(" ")
        return Answer(True, name, frames.parse_pairs(pairs.split(" ")) if pairs else {})
    code, _, pairs = tail.partition(" ")
    values = frames.parse_pairs(pairs.split(" ")) if pairs else {}
    values["code"] = code
    return Answer(False, "", values)


def _one(op: Operator, cmd: str, kv: dict[str, Any]) -> Script:
    return (yield op.send(cmd, kv))


def program_and_start(op: Operator, fields: dict[str, Any], confirm_soft_limits: bool, record: dict[str, Any]) -> Script:
    """Enter the prescription, confirm soft-limit overrides if the operator would, then start.
    `record` gets the result (STARTED or the pump's code) and, on a refusal, what the pump said."""
    a = yield op.send("PROGRAM", fields)
    record["program"] = a.values
    if not a.ok:
        return _refused(record, "PROGRAM", a)
    if a["soft"] != "-":
        if not confirm_soft_limits:
            record["result"] = "AWAITING_CONFIRMATION"
            return
        c = yield op.send("CONFIRM", {"fields": a["soft"]})
        if not c.ok:
            return _refused(record, "CONFIRM", c)
        record["confirmed"] = a["soft"]
    s = yield op.send("START", {})
    if not s.ok:
        return _refused(record, "START", s)
    record["result"] = "STARTED"


def _refused(record: dict[str, Any], command: str, answer: Answer) -> None:
    """Keep the pump's refusal as it sent it: the command, code, field, value and allowed range."""
    record["result"] = answer.code
    record["refusal"] = {"command": command, "code": answer.code, "field": answer.values.get("field"),
                         "value": answer.values.get("value"), "allowed": answer.values.get("allowed")}
