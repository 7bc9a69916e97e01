"""A pseudo-terminal standing in for a board's USB-CDC port.

The virtual board's command link is a real pty: a tester opens its path (`/dev/pts/N`) with any
serial terminal or with pyserial, exactly as they would `/dev/ttyACM0`. This side keeps the
master end. It also holds the slave end open itself, so a host can disconnect and reconnect
without the pty going away. When the kernel's buffer is full (nobody reading, or a host
slower than a board running at hundreds of times real time), asynchronous lines are dropped, as
a UART with no one attached would drop them, but an answer to a command waits for room: a host
that asked must get its answer.
"""

import fcntl
import os
import select
import struct
import termios
import tty

# Asynchronous lines are only queued while the host's unread backlog is below this, so they are
# never cut in half by a full kernel buffer (which holds about 20 KB on Linux).
ASYNC_BACKLOG_BYTES = 3000


class PtyLink:
    def __init__(self) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)  # no echo, no line discipline: bytes pass as they are
        os.set_blocking(self.master_fd, False)
        self.path = os.ttyname(self._slave_fd)
        self.dropped_bytes = 0

    def read_available(self, limit: int = 4096) -> bytes:
        """Bytes the host has written, without waiting."""
        ready, _, _ = select.select([self.master_fd], [], [], 0)
        if not ready:
            return b""
        try:
            return os.read(self.master_fd, limit)
        except (BlockingIOError, OSError):
            return b""

    def wait_readable(self, timeout_s: float) -> bool:
        ready, _, _ = select.select([self.master_fd], [], [], timeout_s)
        return bool(ready)

    def lines(self, stop, poll_s: float = 0.05):
        """Each complete line the host writes (without its newline), until `stop` (an Event) is
        set: the loop of a small line-serving device on the other end (a relay rig, a test's
        pretend pump)."""
        pending = b""
        while not stop.is_set():
            if not self.wait_readable(poll_s):
                continue
            pending += self.read_available()
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                yield line

    def write(self, data: bytes, droppable: bool = False, wait_s: float = 2.0) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master_fd, view)
            except BlockingIOError:
                if droppable or not select.select([], [self.master_fd], [], wait_s)[1]:
                    self.dropped_bytes += len(view)
                    return
                continue
            view = view[n:]

    def backlog(self) -> int:
        """Bytes written and not yet read by the host."""
        return struct.unpack("i", fcntl.ioctl(self._slave_fd, termios.FIONREAD, b"\0\0\0\0"))[0]

    def write_lines(self, data: bytes) -> None:
        """Write what the board sent; its asynchronous lines ("! ...") may be dropped, answers not."""
        for line in data.splitlines(keepends=True):
            if line.startswith(b"!") and self.backlog() + len(line) > ASYNC_BACKLOG_BYTES:
                self.dropped_bytes += len(line)
                continue
            self.write(line)

    def close(self) -> None:
        for fd in (self.master_fd, self._slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass
