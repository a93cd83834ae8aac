"""Private, disposable instances of PostgreSQL, Redis and RabbitMQ for fault-injection tests.

Each class starts its *own* server on spare ports (never 5432/6379/5672, where the system services
that the other suites use live), so a test may stop, kill and restart it at will. Every server runs
in a process group (a session) of its own, created by ``subprocess.Popen(start_new_session=True)``;
stop/kill signal only that group or the pids it holds, so nothing here ever signals a process it
did not start. Anything still running when the interpreter exits is SIGKILLed by an ``atexit`` hook.

Plain Python (no pytest import), usable from fixtures::

    with RedisServer(tmp_path) as redis_srv:
        client = redis.Redis.from_url(redis_srv.url)
        redis_srv.restart(downtime=1.0)        # same port, same URL

PostgreSQL runs as the ``postgres`` OS user (initdb refuses root), with its data in a private
directory under the system temp dir (a pytest ``tmp_path`` is not traversable by that user); its
log goes to ``tmpdir``. RabbitMQ runs as the calling user with ``HOME``, config, data, logs, cookie
and its own ``epmd`` (on a spare port) all inside ``tmpdir``; the system ``/etc/rabbitmq`` files are
not read.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

__all__ = [
    "PG_BINDIR",
    "PostgresCluster",
    "RabbitNode",
    "RedisServer",
    "ServiceError",
    "free_port",
    "pid_exists",
]

PG_BINDIR = Path(os.environ.get("IXFAULT_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = os.environ.get("IXFAULT_REDIS_SERVER", "redis-server")
# The real start script: /usr/sbin/rabbitmq-server is a wrapper that `su`s to the rabbitmq user,
# cds to /var/lib/rabbitmq and redirects output to /var/log/rabbitmq, none of which we want.
RABBITMQ_SERVER = os.environ.get("IXFAULT_RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server")
EPMD = os.environ.get("IXFAULT_EPMD", "epmd")

# Ports the system services (and their helpers) use; never handed out.
_RESERVED_PORTS = frozenset({1883, 3306, 4222, 4369, 5432, 5552, 5672, 6379, 15672, 25672, 35672})
# Below the kernel's ephemeral range (32768-60999 by default), so an outgoing connection cannot
# grab a port between free_port() and the server's bind.
_PORT_RANGE = (20000, 32000)


class ServiceError(RuntimeError):
    """A service failed to start, answer or stop."""


# --------------------------------------------------------------------------------------------
# ports and processes


_issued_ports: set[int] = set()
_port_lock = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on and that this process has not handed out."""
    rng = random.SystemRandom()
    with _port_lock:
        for _ in range(1000):
            port = rng.randint(*_PORT_RANGE)
            if port in _RESERVED_PORTS or port in _issued_ports:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _issued_ports.add(port)
            return port
    raise ServiceError("no free port found")


def pid_exists(pid: int) -> bool:
    """True while ``pid`` is a live (non-zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent pid, process group id, start time in clock ticks since boot) of ``pid``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is field 3 of proc(5) (state); ppid is field 4, pgrp 5, starttime 22.
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def _scan() -> dict[int, tuple[int, int, int]]:
    """Every live (non-zombie) process: pid -> (ppid, pgid, start ticks)."""
    procs = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] != "Z":
                procs[int(entry.name)] = stat[1:]
    return procs


def _cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def _port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


_live: set[_Proc] = set()
_live_lock = threading.Lock()


class _Proc:
    """A process started in a new session, and the processes it spawns; never anything else.

    Servers put some helpers in sessions of their own (every PostgreSQL backend and auxiliary
    process calls setsid(), so does Erlang's erl_child_setup), so "ours" is: the leader, anything
    in its process group, any descendant of an ours process, and (optionally) any process whose
    working directory is ``cwd_marker`` (PostgreSQL processes all chdir to their data directory).
    Each is remembered with its start time, so it is still recognised once orphaned, and a
    recycled pid never is. Everything ours started no earlier than the leader.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        cwd_marker: Path | None = None,
    ) -> None:
        self.argv = argv
        self.log_path = log_path
        self.cwd_marker = str(cwd_marker) if cwd_marker is not None else None
        self._log: IO[bytes] | None = open(log_path, "ab")  # noqa: SIM115 - closed in _finish
        kwargs: dict[str, Any] = {}
        if user is not None:
            entry = pwd.getpwnam(user)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        try:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
                **kwargs,
            )
        except BaseException:
            self._log.close()
            raise
        self.pid = self.popen.pid
        self.pgid = self.pid  # a session leader leads its own process group
        stat = _stat(self.pid)
        self._start_ticks = stat[3] if stat else 0
        self._known: dict[int, int] = {self.pid: self._start_ticks}  # pid -> start ticks
        with _live_lock:
            _live.add(self)

    # -- state

    def running(self) -> bool:
        """The leader process is alive."""
        return self.popen.poll() is None

    def members(self) -> list[int]:
        """Live pids that are ours (see the class doc), the leader included while it lives."""
        procs = _scan()
        alive = {pid for pid, start in self._known.items() if pid in procs and procs[pid][2] == start}
        # While the leader is unreaped, or a known process still sits in the group, the group id
        # cannot have been recycled, so matching on it is safe.
        group_held = self.popen.returncode is None or any(procs[pid][1] == self.pgid for pid in alive)
        for pid, (_ppid, pgid, start) in procs.items():
            if pid in alive or start < self._start_ticks:
                continue
            if (group_held and pgid == self.pgid) or (
                self.cwd_marker is not None and _cwd(pid) == self.cwd_marker
            ):
                alive.add(pid)
        grew = True
        while grew:  # descendants of anything ours
            grew = False
            for pid, (ppid, _pgid, start) in procs.items():
                if pid not in alive and ppid in alive and start >= self._start_ticks:
                    alive.add(pid)
                    grew = True
        for pid in alive:
            self._known[pid] = procs[pid][2]
        for pid in [pid for pid in self._known if pid not in alive]:
            del self._known[pid]
        return sorted(alive)

    # -- signals

    def signal_leader(self, sig: int) -> None:
        if self.popen.returncode is None:  # not reaped yet: the pid is still ours
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)

    def signal_group(self, sig: int) -> None:
        """Signal every process that is ours."""
        pids = self.members()
        if self.popen.returncode is None:
            # The leader is alive or an unreaped zombie, so the group id cannot have been recycled.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, sig)
        for pid in pids:
            if pid != self.pid or self.popen.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)

    def wait_gone(self, timeout: float) -> bool:
        """Reap the leader and wait until nothing of ours is left."""
        deadline = time.monotonic() + timeout
        try:
            self.popen.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return False
        while self.members():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 10.0, *, group: bool = False) -> None:
        """Send ``sig`` (to the leader, or all that is ours), wait, then SIGKILL whatever is left."""
        self.members()  # remember the current helpers before they can be orphaned
        if sig == signal.SIGKILL or group:
            self.signal_group(sig)
        else:
            self.signal_leader(sig)
        if not self.wait_gone(timeout):
            self.signal_group(signal.SIGKILL)
            if not self.wait_gone(10.0):
                raise ServiceError(f"{self.argv[0]} (pgid {self.pgid}) survived SIGKILL: {self.members()}")
        self._finish()

    def _finish(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        with _live_lock:
            _live.discard(self)


_temp_dirs: set[Path] = set()  # private directories to remove at exit if nobody closed them


@atexit.register
def _kill_leftovers() -> None:
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.terminate(signal.SIGKILL, timeout=5.0)
    for path in list(_temp_dirs):
        shutil.rmtree(path, ignore_errors=True)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RABBITMQ_", "ERL_", "PG", "REDIS_")) and k not in ("NOTIFY_SOCKET",)
    }
    env.update(extra)
    return env


class _Service:
    """Shared start/stop plumbing: one _Proc at a time, same port(s) across restarts."""

    name = "service"

    def __init__(self) -> None:
        self._proc: _Proc | None = None

    @property
    def pid(self) -> int | None:
        """Pid of the server process (the process-group leader), or None when not started."""
        return self._proc.pid if self._proc is not None and self._proc.running() else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.running()

    def pids(self) -> list[int]:
        """Every live process of the server's process group."""
        return self._proc.members() if self._proc is not None else []

    def _check_alive(self) -> None:
        if self._proc is None:
            raise ServiceError(f"{self.name} is not started")
        if not self._proc.running():
            code = self._proc.popen.returncode
            log = self._proc.log_path
            raise ServiceError(f"{self.name} exited with status {code}; log {log}:\n{_tail(log)}")

    def _stop_proc(self, sig: int, timeout: float, *, group: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate(sig, timeout, group=group)

    def restart(self, downtime: float = 0) -> None:
        """Stop (gracefully), stay down ``downtime`` seconds, start again on the same port(s)."""
        self.stop()
        if downtime > 0:
            time.sleep(downtime)
        self.start()

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        self.stop()

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Redis


class RedisServer(_Service):
    """``redis-server`` on 127.0.0.1:<spare port>, no persistence (a restart empties it)."""

    name = "redis"

    def __init__(self, tmpdir: str | os.PathLike[str], *, port: int | None = None) -> None:
        super().__init__()
        self.port = port or free_port()
        self.dir = Path(tmpdir) / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        if self.running:
            return
        self._proc = _Proc(
            [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--dir", str(self.dir),
                "--logfile", "",  # stdout, i.e. our log file
            ],
            log_path=self.log_path,
            cwd=self.dir,
            env=_clean_env(),
        )  # fmt: skip
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Block until the server answers PING."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                    sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"redis on port {self.port} not ready after {timeout}s:\n{_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, SIGKILL fallback. Idempotent."""
        self._stop_proc(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL (crash); returns once no process of the server is left."""
        self._stop_proc(signal.SIGKILL, 10.0)


# --------------------------------------------------------------------------------------------
# PostgreSQL

_PG_STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


class PostgresCluster(_Service):
    """A private PostgreSQL cluster (initdb once), trust auth for ``postgres`` on 127.0.0.1 only.

    The data directory lives in a fresh directory under the system temp dir owned by the
    ``postgres`` OS user (removed by ``close()``/``__exit__``); the server log is ``tmpdir/...``.
    """

    name = "postgres"

    def __init__(
        self,
        tmpdir: str | os.PathLike[str],
        *,
        port: int | None = None,
        bindir: str | os.PathLike[str] = PG_BINDIR,
        os_user: str = "postgres",
    ) -> None:
        super().__init__()
        self.port = port or free_port()
        self.bindir = Path(bindir)
        self.os_user = os_user
        self.logdir = Path(tmpdir) / f"postgres-{self.port}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.logdir / "postgres.log"
        self.base = Path(tempfile.mkdtemp(prefix=f"ixfault-pg-{self.port}-")).resolve()
        self.datadir = self.base / "data"
        self.socket_dir = self.base / "sock"
        _temp_dirs.add(self.base)
        entry = pwd.getpwnam(os_user)
        os.chown(self.base, entry.pw_uid, entry.pw_gid)
        self.socket_dir.mkdir()
        os.chown(self.socket_dir, entry.pw_uid, entry.pw_gid)
        self._initialized = False

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        """SQLAlchemy URL of database ``dbname``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq conninfo for psycopg.connect()."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=5"

    def _pg_env(self) -> dict[str, str]:
        return _clean_env(HOME=str(self.base), LC_ALL="C", LANG="C")

    def _initdb(self) -> None:
        entry = pwd.getpwnam(self.os_user)
        result = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D", str(self.datadir),
                "-U", "postgres",
                "-A", "trust",
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            cwd=self.base,
            env=self._pg_env(),
            user=entry.pw_uid,
            group=entry.pw_gid,
            extra_groups=[],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServiceError(f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        with open(self.datadir / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# ixfault\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                # fsync off is safe here: only the server is ever crashed, never the OS. Keep
                # synchronous_commit on: a SIGKILL would otherwise lose acknowledged commits.
                "fsync = off\n"
                "shared_buffers = 16MB\n"
                "max_connections = 100\n"
                "logging_collector = off\n"
                "log_destination = 'stderr'\n"
                "dynamic_shared_memory_type = posix\n"
            )
        self._initialized = True

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        if not self._initialized:
            self._initdb()
        self._proc = _Proc(
            [str(self.bindir / "postgres"), "-D", str(self.datadir)],
            log_path=self.log_path,
            cwd=self.base,
            env=self._pg_env(),
            user=self.os_user,
            cwd_marker=self.datadir,
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until ``SELECT 1`` succeeds (after crash recovery, if any)."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            if _port_open(self.port):
                try:
                    with psycopg.connect(self.conninfo(), connect_timeout=2) as conn:
                        conn.execute("SELECT 1").fetchone()
                    return
                except psycopg.OperationalError:
                    pass
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"postgres on port {self.port} not ready after {timeout}s:\n{_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        """Shut down in ``mode`` smart/fast/immediate (pg_ctl's meanings); SIGKILL fallback. Idempotent."""
        try:
            sig = _PG_STOP_SIGNALS[mode]
        except KeyError:
            raise ValueError(f"mode must be one of {sorted(_PG_STOP_SIGNALS)}") from None
        self._stop_proc(sig, timeout)

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash). Its children notice and exit; any that linger are
        SIGKILLed too, so the next ``start()`` can take the shared memory and runs crash recovery."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.members()  # remember the children before they are orphaned
        proc.signal_leader(signal.SIGKILL)
        if not proc.wait_gone(5.0):  # children exit on their own once they see the postmaster gone
            proc.signal_group(signal.SIGKILL)
        proc.terminate(signal.SIGKILL, 10.0)
        # Our postmaster is dead: its lock file is stale. Removing it keeps a recycled pid (of
        # another postgres-owned process) from blocking the next start.
        with contextlib.suppress(FileNotFoundError):
            (self.datadir / "postmaster.pid").unlink()

    def create_database(self, name: str, *, vector: bool = True) -> str:
        """CREATE DATABASE ``name`` (and, by default, the pgvector extension in it); its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if vector:
            self.create_extension(name, "vector")
        return self.url_for(name)

    def create_extension(self, dbname: str, extension: str = "vector") -> None:
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(self.conninfo(dbname), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension)))
        except psycopg.Error as exc:
            hint = " (run scripts/install_pgvector.sh)" if extension == "vector" else ""
            raise ServiceError(f"CREATE EXTENSION {extension} failed in {dbname}{hint}: {exc}") from exc

    def close(self) -> None:
        """Stop the server and delete the data directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            _temp_dirs.discard(self.base)


# --------------------------------------------------------------------------------------------
# RabbitMQ


class RabbitNode(_Service):
    """A standalone RabbitMQ node with its own epmd, on spare ports, all state under ``tmpdir``.

    The default ``guest``/``guest`` user exists on the fresh node (loopback only, so connect to
    127.0.0.1). No plugins are enabled (no management listener).
    """

    name = "rabbitmq"

    def __init__(
        self,
        tmpdir: str | os.PathLike[str],
        *,
        port: int | None = None,
        dist_port: int | None = None,
        epmd_port: int | None = None,
    ) -> None:
        super().__init__()
        self.port = port or free_port()
        self.dist_port = dist_port or free_port()
        self.epmd_port = epmd_port or free_port()
        self.nodename = f"ixfault-{secrets.token_hex(4)}@localhost"
        self.dir = Path(tmpdir) / f"rabbit-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "rabbitmq.out"
        self.epmd_log_path = self.dir / "epmd.out"
        self._epmd: _Proc | None = None
        # Empty replacements for /etc/rabbitmq/{rabbitmq-env.conf,rabbitmq.conf,enabled_plugins}:
        # the system ones set NODENAME=rabbit@localhost and a listener on 127.0.0.1:5672.
        (self.dir / "rabbitmq-env.conf").write_text("# ixfault: intentionally empty\n")
        (self.dir / "rabbitmq.conf").write_text(
            "# ixfault\nlog.console = true\nlog.console.level = info\nlog.file = false\n"
        )
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "mnesia").mkdir(exist_ok=True)
        (self.dir / "log").mkdir(exist_ok=True)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def epmd_pid(self) -> int | None:
        return self._epmd.pid if self._epmd is not None and self._epmd.running() else None

    def _env(self) -> dict[str, str]:
        d = self.dir
        return _clean_env(
            HOME=str(d),  # the Erlang cookie goes to $HOME/.erlang.cookie
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONF_ENV_FILE=str(d / "rabbitmq-env.conf"),
            RABBITMQ_CONFIG_FILE=str(d / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "advanced.config"),  # absent
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_LOG_BASE=str(d / "log"),
            RABBITMQ_PID_FILE=str(d / "rabbitmq.pid"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
        )

    def _start_epmd(self) -> None:
        if self._epmd is not None and self._epmd.running():
            return
        # Foreground epmd (no -daemon, which would detach from our process group) on our port;
        # the node finds it there and so never starts, nor registers with, the system epmd.
        self._epmd = _Proc(
            [EPMD, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            log_path=self.epmd_log_path,
            cwd=self.dir,
            env=self._env(),
        )
        deadline = time.monotonic() + 10.0
        while not _port_open(self.epmd_port, timeout=0.2):
            if not self._epmd.running():
                raise ServiceError(f"epmd exited: {_tail(self.epmd_log_path)}")
            if time.monotonic() >= deadline:
                raise ServiceError(f"epmd on port {self.epmd_port} did not come up")
            time.sleep(0.05)

    def start(self, timeout: float = 90.0) -> None:
        if self.running:
            return
        self._start_epmd()
        self._proc = _Proc([RABBITMQ_SERVER], log_path=self.log_path, cwd=self.dir, env=self._env())
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Block until the AMQP port accepts a connection and a pika BlockingConnection opens."""
        import pika
        import pika.exceptions

        params = pika.URLParameters(self.url)
        params.socket_timeout = 5
        params.blocked_connection_timeout = 5
        params.connection_attempts = 1
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            if _port_open(self.port):
                try:
                    conn = pika.BlockingConnection(params)
                except pika.exceptions.AMQPError:
                    pass
                else:
                    conn.close()
                    return
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"rabbitmq on port {self.port} not ready after {timeout}s:\n{_tail(self.log_path)}"
                )
            time.sleep(0.2)

    def stop(self, timeout: float = 60.0) -> None:
        """Graceful stop (SIGTERM to the start script, which stops the VM), SIGKILL of the whole
        process group as fallback; then our epmd. Idempotent."""
        try:
            self._stop_proc(signal.SIGTERM, timeout)
        finally:
            self._stop_epmd()

    def kill(self) -> None:
        """SIGKILL the node's whole process group (start script, beam.smp, children), then epmd."""
        try:
            self._stop_proc(signal.SIGKILL, 10.0)
        finally:
            self._stop_epmd()

    def _stop_epmd(self) -> None:
        epmd, self._epmd = self._epmd, None
        if epmd is not None:
            epmd.terminate(signal.SIGTERM, 5.0)
