"""Integration tier: a fresh PostgreSQL database per test, unique queue names, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import PG_URL, require_port


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A new, empty database on the real PostgreSQL; dropped afterwards."""
    require_port("PostgreSQL", 5432)
    from indexflow.db.session import make_engine

    name = f"ixtest_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        from indexflow.db.session import make_engine as mk

        eng = mk(url)
        with eng.begin() as conn:
            try:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            except Exception as exc:  # noqa: BLE001
                pytest.fail(
                    f"pgvector is not installed ({exc}); run scripts/install_pgvector.sh", pytrace=False
                )
        eng.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Workers:
    """`indexflow worker` as separate OS processes, stopped with SIGTERM at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, processes: int = 1, threads: int = 2) -> None:
        log = open(self.log_dir / f"worker-{len(self.procs)}.log", "w")  # noqa: SIM115
        self.procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "indexflow.cli.main",
                    "worker",
                    "-p",
                    str(processes),
                    "-t",
                    str(threads),
                ],
                env=os.environ | self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        for p in self.procs:
            try:
                p.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def logs(self) -> str:
        return "\n".join(f.read_text()[-4000:] for f in sorted(self.log_dir.glob("worker-*.log")))


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[object]:
    made: list[Workers] = []

    def factory(env: dict[str, str]) -> Workers:
        w = Workers(env, tmp_path)
        made.append(w)
        return w

    yield factory
    for w in made:
        w.stop()
