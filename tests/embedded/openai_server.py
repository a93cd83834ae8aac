"""A real OpenAI-compatible embeddings server for tests: ``POST /v1/embeddings`` on 127.0.0.1,
answering with all-MiniLM-L6-v2's own vectors, with switches that inject what providers do:
rate limits (429 + Retry-After), slow answers (client timeouts), batches too large (400)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from indexflow.encoders.base import Encoder


@dataclass
class Switches:
    rate_limited: int = 0  # answer the next N requests with 429
    retry_after: str | None = "0"  # the 429's Retry-After header (None: none)
    slow: int = 0  # delay the next N requests by slow_seconds
    slow_seconds: float = 1.5
    max_inputs: int | None = None  # more inputs in one request: 400 "maximum context length"
    max_chars: int | None = None  # an input longer than this: 400 "maximum context length"
    api_key: str | None = None  # the Bearer key required (None: any)


@dataclass
class Record:
    batches: list[list[str]] = field(default_factory=list)  # inputs of each answered request
    statuses: list[int] = field(default_factory=list)  # every answer's status, in order
    models: list[str] = field(default_factory=list)


class EmbeddingsServer:
    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.switches = Switches()
        self.record = Record()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                status, body, headers = server.answer(
                    self.path, self.headers, self.rfile.read(int(self.headers.get("Content-Length") or 0))
                )
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out meanwhile
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self) -> None:
        self.switches = Switches()
        self.record = Record()

    def answer(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        sw, rec = self.switches, self.record
        with self._lock:
            slow = sw.slow > 0
            sw.slow -= slow
            limited = sw.rate_limited > 0
            sw.rate_limited -= limited
        if slow:
            time.sleep(sw.slow_seconds)
        if path.rstrip("/") != "/v1/embeddings":
            return self._status(404, {"error": {"message": f"no route {path}"}})
        if sw.api_key is not None and headers.get("Authorization") != f"Bearer {sw.api_key}":
            return self._status(401, {"error": {"message": "Incorrect API key provided"}})
        if limited:
            extra = {"Retry-After": sw.retry_after} if sw.retry_after is not None else {}
            return self._status(429, {"error": {"message": "Rate limit reached"}}, extra)
        request = json.loads(raw)
        texts = request["input"]
        too_many = sw.max_inputs is not None and len(texts) > sw.max_inputs
        too_long = sw.max_chars is not None and any(len(t) > sw.max_chars for t in texts)
        if too_many or too_long:
            message = "This model's maximum context length is 8192 tokens, however you requested more"
            return self._status(400, {"error": {"message": message, "type": "invalid_request_error"}})
        vectors = self.encoder.encode(texts)
        with self._lock:
            rec.batches.append(list(texts))
            rec.models.append(request["model"])
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        # Shuffled order, as the API allows: clients must sort by index.
        return self._status(200, {"object": "list", "data": data[::-1], "model": request["model"]})

    def _status(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.record.statuses.append(status)
        return status, body, headers or {}
