"""Headless Chromium driven over the DevTools protocol, with the standard library only.

    with Chromium.start() as browser:
        page = browser.open(Path("out/hil/latest/index.html"))
        page.evaluate("document.title")          # 'HIL acceptance report: PASS'
        page.errors                              # console errors, exceptions, failed loads
        page.screenshot(Path("shot.png"))

Chromium (Debian's `chromium`) is started with --remote-debugging-port=0 and a fresh profile;
it writes the port it chose to DevToolsActivePort in that profile. The page target's WebSocket
(RFC 6455: masked client frames, unmasked server frames, 16/64-bit lengths, fragments, ping)
carries the protocol's JSON commands: {"id", "method", "params"} out, {"id", "result"} back,
events ({"method", "params"}) in between. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--remote-allow-origins=*", "--hide-scrollbars"]
INSTALL_HINT = "install Debian's chromium (apt-get install chromium; `make setup` does it when run as root)"


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class WebSocket:
    """A client WebSocket over one TCP connection: text messages in and out."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        assert url.startswith("ws://"), url
        host_port, _, path = url[len("ws://"):].partition("/")
        host, _, port = host_port.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"{url} closed during the handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise ConnectionError(f"{url} refused the WebSocket upgrade: {status!r}")
        self._buf = head.split(b"\r\n\r\n", 1)[1]

    def send(self, text: str) -> None:
        payload = text.encode()
        n = len(payload)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                  bytes([0x80 | 126]) + struct.pack(">H", n) if n < 1 << 16 else
                                  bytes([0x80 | 127]) + struct.pack(">Q", n))
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            opcode, n = first & 0x0F, second & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else b""
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x8:
                raise ConnectionError("the browser closed the DevTools connection")
            if opcode == 0x9:  # ping: answer with a pong carrying the same data (masked, as a client must)
                key = os.urandom(4)
                self.sock.sendall(bytes([0x8A, 0x80 | len(data)]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(data)))
                continue
            message += data
            if first & 0x80:
                return message.decode()

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionError("the DevTools connection closed")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def close(self) -> None:
        self.sock.close()


class Page:
    """One tab: commands, the events that came with them, and what went wrong in it."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []
        self.errors: list[str] = []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self._event(msg)

    def wait_for(self, method: str, timeout_s: float = 30.0) -> dict:
        end = time.monotonic() + timeout_s
        for event in self.events:
            if event["method"] == method:
                return event
        while time.monotonic() < end:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self._event(msg)
                if msg["method"] == method:
                    return msg
        raise TimeoutError(f"no {method} within {timeout_s} s")

    def _event(self, msg: dict) -> None:
        self.events.append(msg)
        params = msg.get("params", {})
        if msg["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif msg["method"] == "Runtime.exceptionThrown":
            self.errors.append("exception: " + params["exceptionDetails"].get("text", ""))
        elif msg["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.errors.append(f"log: {entry.get('text', '')} {entry.get('url', '')}".strip())

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, width: int = 1200) -> Path:
        """The whole page, top to bottom, as a PNG."""
        height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)"))
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=min(height, 16000), deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)


class Chromium:
    def __init__(self, process: subprocess.Popen, profile: tempfile.TemporaryDirectory, port: int) -> None:
        self.process = process
        self.profile = profile
        self.port = port
        self.pages: list[Page] = []

    @classmethod
    def start(cls, timeout_s: float = 60.0) -> Chromium:
        exe = find_chromium()
        if exe is None:
            raise FileNotFoundError(f"no chromium on PATH; {INSTALL_HINT}")
        profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        process = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile.name}", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(profile.name) / "DevToolsActivePort"
        end = time.monotonic() + timeout_s
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > end:
                process.kill()
                profile.cleanup()
                raise RuntimeError(f"chromium did not open its DevTools port within {timeout_s} s (exit {process.poll()})")
            time.sleep(0.1)
        return cls(process, profile, int(port_file.read_text().split()[0]))

    def open(self, path: Path, timeout_s: float = 60.0) -> Page:
        """A tab showing the file, once its load event has fired (images included)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=timeout_s) as answer:
            targets = json.load(answer)
        target = next(t for t in targets if t.get("type") == "page")
        page = Page(WebSocket(target["webSocketDebuggerUrl"], timeout_s))
        for domain in ("Runtime", "Log", "Page"):
            page.call(f"{domain}.enable")
        page.events.clear()
        page.call("Page.navigate", url=Path(path).resolve().as_uri())
        page.wait_for("Page.loadEventFired", timeout_s)
        self.pages.append(page)
        return page

    def close(self) -> None:
        for page in self.pages:
            page.ws.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
