"""Runs inside the MicroPython interpreter: the time one protocol poll takes while the link is
flooded (10,000 lines arriving as fast as the link takes them), against a quiet poll.

Prints one JSON line. Usage (repository root): micropython bench/mpy_link_burst.py
"""

import json
import sys
import time

sys.path.insert(0, ".")


def main():
    from firmware import frames
    from tests.firmware.protocol_fixture import STANDARD, Bench

    b = Bench()
    b.framed(1, "PROGRAM " + STANDARD)
    b.framed(2, "START")
    line = b"STATUS\n"
    burst = line * 10000
    link = b.vb.link
    pos = 0
    poll_us = []
    out_bytes = []
    while pos < len(burst) or link.room() < link.capacity:
        pos += link.receive(burst[pos:pos + link.room()])
        b.vb.advance(100)
        t0 = time.ticks_us()
        b.proto.poll(b.vb.clock.now_ms())
        poll_us.append(time.ticks_diff(time.ticks_us(), t0))
        out_bytes.append(len(link.tx))
        link.tx = bytearray()
    quiet = []
    for _ in range(200):
        b.vb.advance(100)
        t0 = time.ticks_us()
        b.proto.poll(b.vb.clock.now_ms())
        quiet.append(time.ticks_diff(time.ticks_us(), t0))
    link.tx = bytearray()
    b.send(frames.seal("3 STOP"))
    poll_us.sort()
    quiet.sort()
    print(json.dumps({"polls": len(poll_us), "lines": 10000, "poll_us_median": poll_us[len(poll_us) // 2],
                      "poll_us_max": poll_us[-1], "quiet_poll_us_median": quiet[len(quiet) // 2],
                      "out_bytes_max": max(out_bytes), "state_after_stop": b.ctl.state_name()}))


main()
