"""A typed client for the pump's operator protocol (docs/protocol.md), over any pyserial URL.

    with PumpClient.open("/dev/ttyACM0") as pump:      # or socket://host:port, loop://, a pty path
        print(pump.identify())
        rx = pump.program(drug="ketamine", profile="depression", conc_ug_ml=10000,
                          weight_g=70000, dose_ug_kg=500, duration_min=40, syringe="bd_plastipak_50")
        pump.report_vitals(sbp=125, dbp=80, bp_id=1, hr=72, spo2=98)  # a monitored profile needs them
        pump.start()

Every command is framed with a sequence number and CRC; an answer with a bad CRC, or no answer
in time, is retried with the same sequence number, so the pump never acts twice. An OK answer
must name the command sent, or PumpMismatch is raised: a success is never taken from another
command's answer. A timeout
error says what was sent, what came back and where the full serial log is. Asynchronous event
and telemetry lines are kept in `events` and `telemetry` as they pass.
"""

import time
from pathlib import Path

import serial

from firmware import frames
from hil.report import iso_utc

DEFAULT_TIMEOUT_S = 3.0
SEQ_REFUSALS = ("ERR SEQ_ORDER", "ERR SEQ_REUSED")  # a frame refused for its number alone


class PumpError(Exception):
    """The pump refused a command: code, field, value and allowed range, as it sent them."""

    def __init__(self, command: str, code: str, fields: dict) -> None:
        self.command = command
        self.code = code
        self.field = fields.get("field", "")
        self.value = fields.get("value", "")
        self.allowed = fields.get("allowed", "")
        super().__init__(f"{command} refused: {code} {self.field}={self.value} (allowed {self.allowed})")


class PumpTimeout(TimeoutError):
    pass


class PumpMismatch(Exception):
    """The pump answered a command's sequence number for another command: the answer is not the
    command's, so nothing about the command's outcome can be believed (another host on the link,
    or a pump that matches retries on the number alone)."""

    def __init__(self, command: str, seq: str, answered: str) -> None:
        self.command = command
        self.seq = seq
        self.answered = answered
        super().__init__(f"sent {command} as seq {seq}; the pump answered that seq with {answered!r}, "
                         f"not an answer to {command}")


class PumpAlarm(Exception):
    """The pump went into alarm while the harness waited for something else."""

    def __init__(self, message: str, status: dict) -> None:
        super().__init__(message)
        self.status = status


class Answer(dict):
    """The key=value pairs of an OK answer (integers converted)."""


class SerialLog:
    """Every line in and out, for the tester to read after a failure: its UTC time (ISO-8601),
    the seconds since t0_s (the test's start), > sent or < received, and the line."""

    def __init__(self, path: Path | None, t0_s: float | None = None) -> None:
        self.path = path
        self.t0_s = time.time() if t0_s is None else t0_s
        self._f = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(path, "a", buffering=1)

    def write(self, direction: str, line: bytes) -> None:
        if self._f:
            now = time.time()
            text = line.decode("ascii", errors="backslashreplace").rstrip()
            self._f.write(f"{iso_utc(now)} +{now - self.t0_s:.3f} {direction} {text}\n")

    def close(self) -> None:
        if self._f:
            self._f.close()


class PumpClient:
    def __init__(self, port, log_path: Path | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, retries: int = 2,
                 log_t0_s: float | None = None) -> None:
        self.port = port
        self.url = getattr(port, "portstr", None) or getattr(port, "name", "?")
        self.log = SerialLog(log_path, log_t0_s)
        self.timeout_s = timeout_s
        self.retries = retries
        self.seq = 0
        self.events: list[dict] = []
        self.telemetry: list[dict] = []
        self.crc_errors = 0
        self._buf = b""

    @classmethod
    def open(cls, url: str, log_path: Path | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, baudrate: int = 115200,
             log_t0_s: float | None = None) -> "PumpClient":
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
        client = cls(port, log_path, timeout_s, log_t0_s=log_t0_s)
        client.url = url
        client.connect()
        return client

    def connect(self) -> dict:
        """Drop stale input, then continue the pump's sequence numbers.

        The first ID goes unframed (read-only, tagged "-"), so it consumes no sequence number and
        cannot collide with the last one the pump stored before this host (re)connected.
        """
        self.port.reset_input_buffer()
        self._buf = b""
        ident = self._unframed("ID")
        self.seq = int(ident["last_seq"])
        return ident

    def _unframed(self, cmd: str) -> "Answer":
        received: list[bytes] = []
        for _attempt in range(self.retries + 1):
            self._send(cmd.encode() + b"\n")
            answer = self._await_answer("-", received, expect="OK " + cmd)
            if answer is not None:
                return self._decode(cmd, answer)
        raise self._no_answer(cmd, received)

    def _no_answer(self, sent: str, received: list[bytes]) -> PumpTimeout:
        """What was sent, what came back, and where the whole exchange is logged."""
        return PumpTimeout(
            f"no valid answer to {sent!r} on {self.url} after {self.retries + 1} tries of {self.timeout_s} s; "
            f"received: {b' | '.join(received)[-600:]!r}; full serial log: {self.log.path}"
        )

    def close(self) -> None:
        self.port.close()
        self.log.close()

    def __enter__(self) -> "PumpClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- typed commands ----------------------------------------------------------------
    def identify(self) -> Answer:
        return self.command("ID")

    def status(self) -> Answer:
        return self.command("STATUS")

    def stats(self) -> Answer:
        return self.command("STATS")

    def program(self, **prescription) -> Answer:
        return self.command("PROGRAM", **prescription)

    def confirm(self, fields) -> Answer:
        return self.command("CONFIRM", fields=",".join(fields))

    def start(self) -> Answer:
        return self.command("START")

    def pause(self) -> Answer:
        return self.command("PAUSE")

    def resume(self) -> Answer:
        return self.command("RESUME")

    def stop(self) -> Answer:
        return self.command("STOP")

    def acknowledge(self) -> Answer:
        return self.command("ACK")

    def set_occlusion_level(self, level: str) -> Answer:
        return self.command("OCCLUSION", level=level)

    def reidentify_patient(self, weight_g: int, was_g: int) -> Answer:
        """Declare another patient after PATIENT_MISMATCH, restating the weight on record."""
        return self.command("PATIENT", weight_g=weight_g, was_g=was_g)

    def report_vitals(self, sbp=None, dbp=None, bp_id=None, hr=None, spo2=None) -> Answer:
        """New readings from the bedside monitor (docs/protocol.md, Vitals): a cuff reading is
        sbp, dbp and the monitor's bp_id together; hr and spo2 may come alone. Sends the given ones."""
        given = {"sbp": sbp, "dbp": dbp, "bp_id": bp_id, "hr": hr, "spo2": spo2}
        return self.command("VITALS", **{k: v for k, v in given.items() if v is not None})

    def selftest(self) -> Answer:
        """The power-on self-test (idle pump, no syringe loaded): result=pass|fail and each check."""
        return self.command("SELFTEST")

    def set_telemetry(self, interval_ms: int) -> Answer:
        return self.command("TELEMETRY", interval_ms=interval_ms)

    def event_log(self) -> list[tuple[int, str, str]]:
        """The whole event log, paged through LOG."""
        out, start = [], 0
        while True:
            a = self.command("LOG", **{"from": start})
            if a["events"] != "-":
                for item in str(a["events"]).split(","):
                    t, kind, value = item.split(":")
                    out.append((int(t), kind, value))
            if a["next"] == start:
                return out
            start = a["next"]

    def wait_for_state(self, states, timeout_s: float, poll_s: float = 0.05) -> Answer:
        """Poll STATUS until the pump is in one of `states` (wall-clock timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            st = self.status()
            if st["state"] in states:
                return st
            if st["state"] == "alarm":
                raise PumpAlarm(f"pump raised {st['alarm']} while waiting for {'/'.join(states)}; serial log: {self.log.path}", st)
            if time.monotonic() > deadline:
                raise PumpTimeout(f"pump still {st['state']} after {timeout_s:.0f} s, waiting for {'/'.join(states)}; "
                                  f"serial log: {self.log.path}")
            time.sleep(poll_s)

    # ---- framing -----------------------------------------------------------------------
    def command(self, cmd: str, **kv) -> Answer:
        self.seq = frames.next_seq(self.seq)
        body = self._body(cmd, kv)
        received: list[bytes] = []
        frame_errors: list[str] = []
        for _attempt in range(self.retries + 1):
            self._send(frames.seal(body))
            answer = self._await_answer(self.seq, received, frame_errors=frame_errors)
            if answer is not None:
                return self._decode(cmd, answer, str(self.seq))
            if frame_errors and frame_errors[-1].startswith(SEQ_REFUSALS):
                # The pump expects another number (it was reset, or another host talked to it);
                # the refused frame did nothing, so it goes again under that number.
                self.seq = frames.parse_pairs(frame_errors[-1].split(" ")[2:])["allowed"]
                body = self._body(cmd, kv)
        if frame_errors:
            return self._decode(cmd, frame_errors[-1])
        raise self._no_answer(body, received)

    def _body(self, cmd: str, kv: dict) -> str:
        return f"{self.seq} {cmd}" + (" " + frames.format_pairs(kv.items()) if kv else "")

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (for tests of the pump's parser)."""
        self._send(data)

    def read_lines(self, wait_s: float) -> list[bytes]:
        """Every line that arrives within wait_s, asynchronous lines included."""
        end = time.monotonic() + wait_s
        lines = []
        while time.monotonic() < end:
            line = self._readline(end)
            if line is not None:
                lines.append(line)
        return lines

    def _send(self, data: bytes) -> None:
        self.log.write(">", data)
        self.port.write(data)
        self.port.flush()

    def _readline(self, deadline: float) -> bytes | None:
        while b"\n" not in self._buf:
            if time.monotonic() > deadline:
                return None
            chunk = self.port.read(self.port.in_waiting or 1)
            if chunk:
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        self.log.write("<", line)
        return line

    def _await_answer(self, seq, received: list[bytes], expect: str = "", frame_errors: list[str] | None = None):
        """The answer tagged `seq`. Untagged ("-") refusals cannot be tied to a frame (they may be
        about earlier noise), so they are collected in frame_errors and only used if no tagged
        answer arrives in time."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            line = self._readline(deadline)
            if line is None:
                return None
            received.append(line)
            body, crc = frames.split_crc(line)
            if crc is None or not frames.crc_ok(body, crc):
                self.crc_errors += 1
                continue  # a damaged line: the retry with the same seq gets the stored answer
            text = body.decode()
            if text.startswith("! "):
                self._async(text)
                continue
            tag, _, rest = text.partition(" ")
            if tag == str(seq) and rest.startswith(expect):
                return rest
            if tag == "-" and rest.startswith("ERR") and frame_errors is not None:
                frame_errors.append(rest)

    def _async(self, text: str) -> None:
        kind, _, rest = text[2:].partition(" ")
        pairs = frames.parse_pairs(rest.split(" ")) if rest else {}
        (self.telemetry if kind == "TEL" else self.events).append(pairs)

    def _decode(self, cmd: str, rest: str, seq: str = "-") -> Answer:
        status, _, tail = rest.partition(" ")
        if status == "OK":
            name, _, pairs = tail.partition(" ")
            if name != cmd:
                raise PumpMismatch(cmd, seq, rest)
            return Answer(frames.parse_pairs(pairs.split(" ")) if pairs else {})
        code, _, pairs = tail.partition(" ")
        raise PumpError(cmd, code, frames.parse_pairs(pairs.split(" ")) if pairs else {})
