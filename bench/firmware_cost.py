"""Firmware cost in the MicroPython interpreter, and the link to the virtual board."""

from __future__ import annotations

import json
import statistics
import subprocess
import time

from bench.results import Figure
from firmware.link_budget import OUTPUT_BYTES_PER_POLL_MAX
from sim.bus import ROOT, micropython_path


def _in_micropython(script: str) -> dict:
    """Run a bench script in the MicroPython interpreter; its last line of output is JSON."""
    out = subprocess.run([micropython_path(), script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def firmware() -> list[Figure]:
    d = _in_micropython("bench/mpy_firmware_cost.py")
    params = {"interpreter": "micropython unix port (x86-64 host)", "ticks": d["ticks"], "scenario": "standard 40 min"}
    return [
        Figure("firmware_tick_us_median", d["tick_us_median"], "us", params=params),
        Figure("firmware_tick_us_p99", d["tick_us_p99"], "us", params=params),
        Figure("firmware_heap_bytes", d["heap_running_bytes"], "bytes in use during an infusion",
               params={**params, "after_boot_bytes": d["heap_boot_bytes"]}),
        Figure("firmware_allocs_per_tick", d["allocated_bytes"] / d["ticks"], "bytes/tick", target="0",
               params={**params, "ticks_that_allocated": d["allocating_ticks"]}),
    ]


def link_burst() -> list[Figure]:
    """One protocol poll while 10,000 typed STATUS lines arrive as fast as the link takes them."""
    d = _in_micropython("bench/mpy_link_burst.py")
    params = {"interpreter": "micropython unix port (x86-64 host)", "lines": d["lines"], "polls": d["polls"],
              "quiet_poll_us_median": d["quiet_poll_us_median"]}
    return [
        Figure("link_burst_poll_us_median", d["poll_us_median"], "us", params=params),
        Figure("link_burst_poll_us_max", d["poll_us_max"], "us", params=params),
        Figure("link_burst_out_bytes_max", d["out_bytes_max"], "bytes/poll", target="<= %d" % OUTPUT_BYTES_PER_POLL_MAX,
               params=params),
    ]


def link(n: int = 500) -> list[Figure]:
    from hil.client import PumpClient
    from hil.virtual_board import VirtualBoard

    with VirtualBoard("micropython", speed=0).start() as vb, PumpClient.open(vb.port) as pump:
        pump.set_telemetry(0)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            pump.status()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        pump.set_telemetry(100)
        pump.read_lines(0.2)
        lines = pump.read_lines(3.0)
        tel = sum(1 for line in lines if line.startswith(b"! TEL"))
    params = {"board": "virtual, firmware in micropython, pty", "commands": n}
    return [
        Figure("link_roundtrip_ms_median", round(statistics.median(times), 3), "ms", params=params),
        Figure("link_roundtrip_ms_p99", round(times[n * 99 // 100], 3), "ms", params=params),
        Figure("telemetry_lines_per_s", round(tel / 3.0, 1), "lines/s",
               params={"interval_ms": 100, "speed": "as fast as possible", "listen_s": 3}),
    ]


def journal_wear(frames_per_s: int = 1, vitals_every_s: int = 5) -> list[Figure]:
    """Flash writes in one hour: a 40 min infusion, then idle, with a host polling STATUS every
    second and a monitor reporting vitals every 5 s, all as framed commands. The link's sequence
    number rides on a reservation (one record per 256 frames) instead of a record per frame."""
    from firmware import frames
    from firmware.board import Board
    from firmware.controller import Controller
    from firmware.hal.virtual import MemoryStorage, VirtualBoard
    from firmware.journal import decode
    from firmware.library import DrugLibrary
    from firmware.protocol import Protocol
    from firmware.syringes import SyringeTable

    class CountingStorage(MemoryStorage):
        def __init__(self) -> None:
            MemoryStorage.__init__(self)
            self.appends: dict[str, int] = {}
            self.bytes = 0

        def append(self, name: str, data: bytes) -> None:
            MemoryStorage.append(self, name, data)
            self.bytes += len(data)
            for line in data.split(b"\n"):
                rec = decode(line) if line else None
                if rec is not None:
                    self.appends[rec[2]] = self.appends.get(rec[2], 0) + 1

    storage = CountingStorage()
    vb = VirtualBoard(storage=storage)
    ctl = Controller(vb.hal, Board.load("VIRTUAL"), DrugLibrary.load(), SyringeTable.load())
    proto = Protocol(ctl, vb.link, telemetry_ms=0)
    seq = 0

    def send(body: str) -> None:
        nonlocal seq
        seq = frames.next_seq(seq)
        vb.link.rx.extend(frames.seal("%d %s" % (seq, body)))

    send("PROGRAM drug=ketamine profile=depression conc_ug_ml=10000 weight_g=70000 dose_ug_kg=500 duration_min=40 "
         "syringe=bd_plastipak_50")
    send("VITALS sbp=125 dbp=80 bp_id=1 hr=72 spo2=98")  # the profile needs fresh vitals to start
    send("START")
    sent = 3
    for second in range(3600):
        send("STATUS")
        sent += 1
        if second % vitals_every_s == 0:
            cuff = "" if second % 300 else " sbp=125 dbp=80 bp_id=%d" % (second // 300 + 2)  # a cuff reading 1/5 min
            send("VITALS hr=72 spo2=98" + cuff)
            sent += 1
        for _ in range(10):
            vb.advance(100)
            now = vb.clock.now_ms()
            proto.poll(now)
            ctl.tick(now)
            ctl.service(now)
        vb.link.tx = bytearray()
    params = {"frames": sent, "scenario": "standard 40 min infusion in the hour; STATUS 1/s, VITALS 1/5 s (a cuff reading 1/5 min), framed",
              "records_by_kind": dict(sorted(storage.appends.items())), "compactions": ctl.journal.compactions}
    return [
        Figure("journal_appends_per_hour", sum(storage.appends.values()), "appends", params=params),
        Figure("journal_bytes_per_hour", storage.bytes, "bytes appended", params=params),
        Figure("journal_seq_records_per_hour", storage.appends.get("seq", 0), "records",
               baseline=sent, baseline_label="a record per accepted frame", params=params),
    ]
