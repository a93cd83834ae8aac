"""A real HTTP receiver for webhook tests: a threading ``http.server`` on 127.0.0.1 that records
every request (path, headers, raw body) and answers as told (200, 503, a hang), or is not
listening at all."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def event(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc

    def signed_by(self, secret: str) -> bool:
        """The signature header is the HMAC-SHA256 of the raw body with ``secret`` (checked here
        with hmac directly, as a receiver would, not with indexflow's helper)."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-indexflow-signature", ""))


class Receiver:
    """``start()`` listens on ``port`` (the same one after a ``stop()``); ``status`` is the answer
    (``hang`` sleeps ``hang_seconds`` first); ``requests`` holds everything received."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.status = 200
        self.hang_seconds = 0.0
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                status = receiver.status
                if receiver.hang_seconds:
                    time.sleep(receiver.hang_seconds)
                    status = 0  # answered too late: the sender gave up (it is no 2xx to it)
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status)
                    )
                try:
                    self.send_response(status or receiver.status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender hung up (timed out)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused from now on."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def got(self, *, path: str | None = None, ok: bool | None = None) -> list[Received]:
        with self._lock:
            out = list(self.requests)
        if path is not None:
            out = [r for r in out if r.path == path]
        if ok is not None:
            out = [r for r in out if (200 <= r.status < 300) == ok]
        return out

    def wait_for(
        self, check: Callable[[list[Received]], bool], timeout: float = 60.0, path: str | None = None
    ) -> list[Received]:
        """Poll until ``check(requests answered 2xx)`` holds; fail with what arrived otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.got(path=path, ok=True)
            if check(got):
                return got
            if time.monotonic() > deadline:
                seen = [(r.path, r.status, r.event.get("type")) for r in self.got()]
                raise AssertionError(f"webhook receiver: condition not met in {timeout} s; got {seen}")
            time.sleep(0.05)
