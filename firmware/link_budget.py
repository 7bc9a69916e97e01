"""The operator link's budget per control tick: how much the pump reads, handles and writes.

The link is served from the control loop (firmware/main.py: poll, tick, service, sleep), so
whatever one poll does delays the next control tick. Unbounded, a burst of input (a pasted
file, a runaway host, line noise) is answered in full in one tick and a board stalls in its
serial writes until the watchdog resets it. These numbers bound one poll; docs/protocol.md
says what happens to what is left over and which lines are never dropped.

All boards tick every 100 ms and run their UARTs at 115200 baud (8N1: 11,520 bytes/s), so a
wire carries at most 1,152 bytes each way per tick. USB CDC is faster but flow-controlled:
what the pump does not read stays with the host.
"""

from firmware.events import RING_SIZE

# Bytes taken from the link per poll. Above the 1,152 a 115200-baud UART delivers per tick, so a
# UART never overruns while the loop keeps time (with room for a tick 75 % late).
READ_BYTES_PER_POLL = 2048

# Receive and transmit buffer of a UART link (machine.UART rxbuf/txbuf; the default is 256) and
# of the virtual board's link: one poll's read budget, so a poll can always empty a full buffer,
# and a tick of answers fits without blocking the loop on the wire.
LINK_BUFFER_BYTES = READ_BYTES_PER_POLL

# Complete lines parsed, acted on and answered per poll. A host sends one command and waits for
# its answer, so one line per tick is normal; 8 leaves room for a few typed or pasted lines
# while bounding the work. Past it, only framed therapy commands are handled (never dropped).
LINES_PER_POLL = 8

# Answer bytes per poll: below the 1,152 bytes a 115200-baud UART sends per tick, so answers
# never outrun the wire. A line is handled in full only while some of this is left; a therapy
# frame handled past it is acted on and its answer kept for the host's retry.
ANSWER_BYTES_PER_POLL = 1024

# The longest line the pump writes: a LOG page of 8 events of at most 72 bytes each, its
# header and CRC. The poll that starts its last answer with budget left may overshoot by this.
LINE_OUT_MAX_BYTES = 768

# Asynchronous lines are never held back by the budget (an alarm must reach the host): at most
# the event ring's events and one telemetry line per poll, each at most ASYNC_LINE_MAX_BYTES.
ASYNC_LINE_MAX_BYTES = 192

# Everything one poll can write: answers with their overshoot, the BUSY note, the events and one
# telemetry line. A transport that frames a tick's output (the sim bus) is sized from this.
OUTPUT_BYTES_PER_POLL_MAX = (ANSWER_BYTES_PER_POLL + LINE_OUT_MAX_BYTES + ASYNC_LINE_MAX_BYTES
                             + (RING_SIZE + 1) * ASYNC_LINE_MAX_BYTES)
