"""A real ``indexflow serve`` and a real headless Chromium, for the dashboard's browser tests and
``scripts/screenshot_dashboard.py``.

Chromium is Debian's (``scripts/install_chromium.sh``, run by ``make test``): Playwright drives it
through ``executable_path`` (it cannot download a browser of its own here), with a fresh profile
folder per launch and nothing that reaches the network by itself.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """Debian's chromium (``INDEXFLOW_TEST_CHROMIUM`` overrides); a clear error when missing."""
    path = os.environ.get("INDEXFLOW_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError(
            "chromium is not installed: run `bash scripts/install_chromium.sh` (make test does)"
        )
    return path


def launch(playwright: Playwright, profile: Path, **options: Any) -> BrowserContext:
    """A headless Chromium with a fresh profile folder (``profile`` must not exist yet)."""
    profile.mkdir(parents=True)
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium_path(),
        headless=True,
        args=CHROMIUM_ARGS,
        **options,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """``indexflow serve`` on a free loopback port with its own ``INDEXFLOW_HOME``."""

    home: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    key: str | None = field(default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return os.environ | {"INDEXFLOW_HOME": str(self.home)}

    def call(self, method: str, path: str, body: Any = None, *, key: str | None = None) -> Any:
        """A JSON call with ``key`` (default: the server's ``key``), answered JSON (raises on ≥ 400)."""
        secret = key or self.key
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())

    def upload(self, dataset: str, name: str, data: bytes) -> dict[str, Any]:
        """``POST /v1/datasets/{dataset}/documents`` with one multipart file: the 202 body."""
        boundary = "indexflow-test-boundary"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        request = urllib.request.Request(
            f"{self.url}/v1/datasets/{dataset}/documents", data=body, method="POST", headers=headers
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.status == 202
            answer: dict[str, Any] = json.loads(resp.read())
            return answer

    def wait_plan(self, plan_id: int, done: Any, timeout: float = 120) -> dict[str, Any]:
        """Poll a plan until ``done(plan)``; its last view."""
        deadline = time.monotonic() + timeout
        while True:
            plan: dict[str, Any] = self.call("GET", f"/v1/plans/{plan_id}")
            if done(plan):
                return plan
            if time.monotonic() > deadline:
                raise TimeoutError(f"plan {plan_id} still {plan['status']}: {plan}")
            time.sleep(0.1)

    def embedded(self, dataset: str, name: str, data: bytes) -> dict[str, Any]:
        """Upload and wait until its plan is EMBEDDED (or FAILED): the plan's view."""
        [plan_id] = self.upload(dataset, name, data)["plan_ids"]
        return self.wait_plan(plan_id, lambda p: p["status"] in ("EMBEDDED", "FAILED"))

    def cli(self, *args: str) -> str:
        """``indexflow ARGS`` on the server's home (keys may change while it serves): stdout."""
        proc = subprocess.run(
            [sys.executable, "-m", "indexflow.cli.main", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


@contextmanager
def serve(home: Path, *, env: dict[str, str] | None = None, timeout: float = 180) -> Iterator[Server]:
    """Start ``indexflow serve`` on ``home``; wait until /healthz answers; stop it afterwards."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "indexflow.cli.main", "serve", "--port", str(port)],
            env=os.environ | {"INDEXFLOW_HOME": str(home)} | (env or {}),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(home, port, process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/healthz", timeout=2):
                    break
            except (OSError, urllib.error.URLError) as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"indexflow serve did not come up: {log.read_text()[-3000:]}") from exc
                time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
