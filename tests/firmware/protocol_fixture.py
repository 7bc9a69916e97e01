"""A pump with its protocol on the in-process virtual board, driven line by line (both interpreters)."""

from firmware import frames
from firmware.controller import Controller
from firmware.hal.virtual import MemoryStorage, VirtualBoard
from firmware.protocol import Protocol
from tests.firmware.fixtures import LIBRARY, SYRINGES, board, controller, monitored

STANDARD = ("drug=ketamine profile=depression conc_ug_ml=10000 weight_g=70000 dose_ug_kg=500 "
            "duration_min=40 syringe=bd_plastipak_50")


class Bench:
    def __init__(self, monitor: bool = True) -> None:
        """`monitor`: the bedside monitor has reported a normal set of vitals at t = 0, as the
        depression profile needs before START (tests of VITALS itself pass False)."""
        self.vb, self.ctl = controller()
        self.proto = Protocol(self.ctl, self.vb.link, telemetry_ms=0)
        self.monitor = monitor
        if monitor:
            monitored(self.ctl)

    def power_cut(self) -> None:
        """The board loses power and boots again: new hardware state, the same flash, and the
        monitor's next report."""
        self.vb = VirtualBoard(storage=MemoryStorage(dict(self.vb.storage.files)))
        self.ctl = Controller(self.vb.hal, board(), LIBRARY, SYRINGES)
        self.proto = Protocol(self.ctl, self.vb.link, telemetry_ms=0)
        if self.monitor:  # the monitor goes on reporting; the pump kept none of it through the cut
            monitored(self.ctl)

    def send(self, data: bytes) -> list:
        """Write raw bytes to the pump, run one poll, return the lines it wrote."""
        assert self.vb.link.receive(data) == len(data), "more than the link holds: send it in parts"
        self.proto.poll(self.vb.clock.now_ms())
        out = bytes(self.vb.link.tx)
        self.vb.link.tx = bytearray()
        return [line for line in out.split(b"\n") if line]

    def framed(self, seq: int, body: str) -> list:
        return self.send(frames.seal("%d %s" % (seq, body)))

    def tick(self, ms: int) -> None:
        for _ in range(ms // 100):
            self.vb.advance(100)
            self.ctl.tick(self.vb.clock.now_ms())
            self.ctl.service(self.vb.clock.now_ms())

    def answers(self, lines: list) -> list:
        """The non-asynchronous lines, CRC checked and stripped."""
        out = []
        for line in lines:
            body, crc = frames.split_crc(line)
            assert crc is not None and frames.crc_ok(body, crc), line
            if not body.startswith(b"!"):
                out.append(body.decode())
        return out

    def snapshot(self) -> tuple:
        c = self.ctl
        return (c.state, c.program, c.plan, c.alarm_code, c.occlusion_level, len(c.vitals), self.vb.stepper.position,
                self.proto.last_seq, self.proto.telemetry_ms)
