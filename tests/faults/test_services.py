"""The fault-injection service harness itself: private PostgreSQL/Redis/RabbitMQ instances start,
serve real clients, restart on the same URL, die without leaving processes behind, and never
disturb the system services on 5432/6379/5672."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pika
import psycopg
import pytest
import redis

from tests.faults.services import (
    PostgresCluster,
    RabbitNode,
    RedisServer,
    free_port,
    pid_exists,
)

SYSTEM_PORTS = {"postgres": 5432, "redis": 6379, "rabbitmq": 5672}


# --------------------------------------------------------------------------------------------
# system services: snapshot before anything here runs, compare in the last test


def _listener_pids(port: int) -> set[int]:
    if shutil.which("ss") is None:
        return set()
    out = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    pids = set()
    for part in out.split("pid=")[1:]:
        pids.add(int(part.split(",", 1)[0]))
    return pids


def _system_answers(name: str) -> bool:
    port = SYSTEM_PORTS[name]
    try:
        if name == "redis":
            with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        if name == "postgres":
            # Trust auth may not hold for the system server: any protocol-level answer will do.
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=3
                ) as conn:
                    conn.execute("SELECT 1")
                return True
            except psycopg.OperationalError as exc:
                return "password" in str(exc) or "authentication" in str(exc)
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return len(sock.recv(8)) > 0  # connection.start frame
    except OSError:
        return False


@pytest.fixture(scope="module", autouse=True)
def system_snapshot() -> dict[str, tuple[bool, set[int]]]:
    return {name: (_system_answers(name), _listener_pids(port)) for name, port in SYSTEM_PORTS.items()}


# --------------------------------------------------------------------------------------------
# helpers


def _gone(pids: list[int]) -> list[int]:
    """The pids among ``pids`` that are still alive (should be none)."""
    return [pid for pid in pids if pid_exists(pid)]


def _retry(fn, attempts: int = 20, delay: float = 0.1):
    for i in range(attempts):
        try:
            return fn()
        except (redis.ConnectionError, psycopg.OperationalError):
            if i == attempts - 1:
                raise
            time.sleep(delay)


def test_free_port() -> None:
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    assert not ports & set(SYSTEM_PORTS.values())
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


# --------------------------------------------------------------------------------------------
# Redis


def test_redis_roundtrip_restart_kill(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    with server:
        url = server.url
        assert url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            assert client.set("k", "v")
            assert client.get("k") == b"v"

            old_pid = server.pid
            assert old_pid is not None
            server.restart(downtime=0.2)
            assert server.url == url and server.pid != old_pid
            assert not pid_exists(old_pid)
            # Same client object: it reconnects to the same URL. No persistence, so the key is gone.
            assert _retry(lambda: client.get("k")) is None
            assert client.set("k", "v2") and client.get("k") == b"v2"

            pids = server.pids()
            assert pids == [server.pid]
            server.kill()
            assert _gone(pids) == []
            assert server.pid is None and server.pids() == []
            with pytest.raises(redis.ConnectionError):
                client.ping()

            server.start()  # again after a crash, same port
            assert _retry(client.ping)
        finally:
            client.close()
        last = server.pid
        assert last is not None
    assert not pid_exists(last)
    server.stop()  # idempotent


# --------------------------------------------------------------------------------------------
# PostgreSQL


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    with PostgresCluster(tmp_path_factory.mktemp("pg")) as cluster:
        yield cluster
    assert not cluster.base.exists()


def test_postgres_roundtrip_and_vector(pg: PostgresCluster) -> None:
    assert pg.url == f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/postgres"
    with psycopg.connect(pg.conninfo()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    url = pg.create_database("ixf_vec")
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/ixf_vec"
    with psycopg.connect(pg.conninfo("ixf_vec")) as conn:
        assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert conn.execute("SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector").fetchone() == (1.0,)
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")  # idempotent


def test_postgres_restart_same_url(pg: PostgresCluster) -> None:
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE restart_t (v int)")
        conn.execute("INSERT INTO restart_t VALUES (1)")
    old = pg.pid
    assert old is not None
    conn = psycopg.connect(pg.conninfo(), autocommit=True)
    try:
        pg.restart(downtime=0.2)
        assert not pid_exists(old)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")  # the old session died with the server
    finally:
        conn.close()
    with psycopg.connect(pg.conninfo()) as conn:
        assert conn.execute("SELECT v FROM restart_t").fetchall() == [(1,)]


def test_postgres_kill_then_crash_recovery(pg: PostgresCluster) -> None:
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE crash_t (v int)")
        conn.execute("INSERT INTO crash_t SELECT generate_series(1, 1000)")
    pids = pg.pids()
    assert pg.pid in pids and len(pids) > 1  # postmaster + checkpointer, walwriter, ...
    pg.kill()
    assert _gone(pids) == []
    assert pg.pids() == [] and pg.pid is None

    pg.start()
    log = pg.log_path.read_text()
    assert "was interrupted" in log or "not properly shut down" in log
    with psycopg.connect(pg.conninfo()) as conn:
        assert conn.execute("SELECT count(*) FROM crash_t").fetchone() == (1000,)
    pg.stop(mode="immediate")
    pg.stop()  # idempotent
    pg.start()


# --------------------------------------------------------------------------------------------
# RabbitMQ


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    node = RabbitNode(tmp_path_factory.mktemp("rabbit"))
    with node:
        yield node
    assert node.pids() == [] and node.epmd_pid is None


def _amqp(url: str) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.socket_timeout = 5
    return pika.BlockingConnection(params)


def _publish_and_get(url: str, queue: str, body: bytes) -> bytes | None:
    conn = _amqp(url)
    try:
        ch = conn.channel()
        ch.queue_declare(queue, durable=True)
        ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
        for _ in range(50):
            _method, _props, got = ch.basic_get(queue, auto_ack=True)
            if got is not None:
                return got
            time.sleep(0.05)
        return None
    finally:
        conn.close()


def test_rabbit_roundtrip(rabbit: RabbitNode) -> None:
    assert rabbit.url == f"amqp://guest:guest@127.0.0.1:{rabbit.port}/"
    assert rabbit.port not in SYSTEM_PORTS.values()
    assert _publish_and_get(rabbit.url, "ixf.roundtrip", b"hello") == b"hello"


def test_rabbit_restart_same_url(rabbit: RabbitNode) -> None:
    url, old = rabbit.url, rabbit.pids()
    conn = _amqp(url)
    try:
        ch = conn.channel()
        ch.queue_declare("ixf.durable", durable=True)
        ch.basic_publish("", "ixf.durable", b"kept", pika.BasicProperties(delivery_mode=2))
    finally:
        conn.close()
    rabbit.restart()
    assert rabbit.url == url and _gone(old) == []
    conn = _amqp(url)
    try:
        _m, _p, body = conn.channel().basic_get("ixf.durable", auto_ack=True)
        assert body == b"kept"  # durable queue + persistent message survive a clean restart
    finally:
        conn.close()
    assert _publish_and_get(url, "ixf.roundtrip", b"again") == b"again"


def _nobody_listens(port: int) -> bool:
    """No server on ``port``: a connection is refused, or it is Linux's TCP self-connect (a port
    in the ephemeral range can be "connected" to itself when nothing listens there)."""
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return True
    with conn:
        return bool(conn.getsockname() == conn.getpeername())


def test_rabbit_kill_leaves_nothing(rabbit: RabbitNode) -> None:
    pids, epmd = rabbit.pids(), rabbit.epmd_pid
    assert rabbit.pid in pids and epmd is not None
    rabbit.kill()
    assert _gone([*pids, epmd]) == []
    assert rabbit.pids() == [] and rabbit.epmd_pid is None
    assert _nobody_listens(rabbit.port)
    rabbit.stop()  # idempotent
    rabbit.start()  # recovers after a crash
    assert _publish_and_get(rabbit.url, "ixf.roundtrip", b"back") == b"back"


# --------------------------------------------------------------------------------------------
# last: the system services were left alone


def test_system_services_untouched(system_snapshot: dict[str, tuple[bool, set[int]]]) -> None:
    for name, (answered, pids) in system_snapshot.items():
        if answered:
            assert _system_answers(name), f"system {name} on {SYSTEM_PORTS[name]} stopped answering"
        assert _listener_pids(SYSTEM_PORTS[name]) == pids, f"system {name} listener changed"
