"""The simulated operator: types commands on the pump's command link, one at a time.

In a simulation nothing waits on a wall clock: a command's bytes go to the board with the next
bus frame and its answer comes back in that frame's output. An operator action is a small
script (a generator) that yields commands and receives their answers, e.g. program, confirm the
soft-limit fields the pump names, then start. Uses the protocol's own frame codec, so the
simulator exercises exactly the path a tester's terminal or the HIL harness does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generator

from firmware import frames

Script = Generator[tuple[str, dict[str, Any]], "Answer", None]


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


@dataclass
class Operator:
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    _scripts: list[Script] = field(default_factory=list)
    _outstanding: int | None = None
    _sent: tuple[str, dict[str, Any]] = ("", {})
    _current: Script | None = None
    _outbox: bytes = b""
    on_event: Callable[[dict[str, Any]], None] | None = None

    def run(self, script: Script) -> None:
        """Queue a script; scripts run one after another."""
        self._scripts.append(script)

    def idle(self) -> bool:
        return self._current is None and not self._scripts and self._outstanding is None

    def take_output(self) -> bytes:
        """Bytes to send to the board with the next frame."""
        if self._outstanding is None and self._current is None and self._scripts:
            self._current = self._scripts.pop(0)
            self._advance(None)
        out, self._outbox = self._outbox, b""
        return out

    def feed(self, tx: bytes) -> None:
        """Lines the board wrote in the last frame."""
        for line in tx.split(b"\n"):
            if line:
                self._line(line)

    def _advance(self, answer: Answer | None) -> None:
        assert self._current is not None
        try:
            cmd, kv = self._current.send(answer) if answer is not None else next(self._current)
        except StopIteration:
            self._current = None
            return
        self._send(cmd, kv, frames.next_seq(self.seq))

    def _send(self, cmd: str, kv: dict[str, Any], seq: int) -> None:
        self.seq = seq
        self._outstanding = seq
        self._sent = (cmd, kv)
        body = f"{seq} {cmd}" + (" " + frames.format_pairs(kv.items()) if kv else "")
        self._outbox += frames.seal(body)

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
        if self._outstanding is not None and rest.startswith("ERR SEQ_ORDER "):
            # The pump was reset: it continues after every number it may have accepted before,
            # and names the next one; the same command goes again under that number.
            self._send(self._sent[0], self._sent[1], frames.parse_pairs(rest.split(" ")[2:])["allowed"])
            return
        if self._outstanding is None or tag != str(self._outstanding):
            return
        status, _, tail = rest.partition(" ")
        if status == "OK":
            name, _, pairs = tail.partition(" ")
            answer = Answer(True, name, frames.parse_pairs(pairs.split(" ")) if pairs else {})
        else:
            code, _, pairs = tail.partition(" ")
            values = frames.parse_pairs(pairs.split(" ")) if pairs else {}
            values["code"] = code
            answer = Answer(False, "", values)
        self.answers.append(answer)
        self._outstanding = None
        if self._current is not None:
            self._advance(answer)


def command(cmd: str, **kv: Any) -> Script:
    """A one-command script."""
    yield cmd, kv


def program_and_start(fields: dict[str, Any], confirm_soft_limits: bool, record: dict[str, Any]) -> Script:
    """Enter the prescription, confirm soft-limit overrides if the operator would, then start.
    `record` gets the result (STARTED or the pump's code) and, on a refusal, what the pump said."""
    a = yield "PROGRAM", fields
    record["program"] = a.values
    if not a.ok:
        return _refused(record, "PROGRAM", a)
    if a["soft"] != "-":
        if not confirm_soft_limits:
            record["result"] = "AWAITING_CONFIRMATION"
            return
        c = yield "CONFIRM", {"fields": a["soft"]}
        if not c.ok:
            return _refused(record, "CONFIRM", c)
        record["confirmed"] = a["soft"]
    s = yield "START", {}
    if not s.ok:
        return _refused(record, "START", s)
    record["result"] = "STARTED"


def _refused(record: dict[str, Any], command: str, answer: Answer) -> None:
    """Keep the pump's refusal as it sent it: the command, code, field, value and allowed range."""
    record["result"] = answer.code
    record["refusal"] = {"command": command, "code": answer.code, "field": answer.values.get("field"),
                         "value": answer.values.get("value"), "allowed": answer.values.get("allowed")}
