"""Parse outside the worker: a warm child process per parse, with a wall-time and a memory limit.

    from indexflow.parsers.sandbox import parse_isolated
    parsed = parse_isolated(data, "report.docx", timeout_seconds=120, max_memory_mb=2048)

One hostile document must cost one failed version, never a worker: a parser stuck in a loop or
a zip that inflates to gigabytes would otherwise hold a worker thread (and the process's memory)
for as long as it likes, and a thread cannot be stopped from outside. So :func:`parse_isolated`
runs :func:`indexflow.parsers.parse` in a child process and

- waits at most ``timeout_seconds``; then it kills the child (SIGKILL), reaps it and raises
  ``InputTooLarge("<name>: parse exceeded 120 s")``;
- caps the child's address space at ``max_memory_mb`` (``RLIMIT_AS``, set in the child; the
  interpreter and its libraries take about 75 MB of it); a parse that runs out raises
  ``InputTooLarge("<name>: parse exceeded 2048 MB")``, and so does a child that dies of a
  signal (the kernel's OOM killer, a crash in a C library), with the signal in parentheses;
- hands back the parser's own errors with their class and message (``ParseError``,
  ``UnsupportedFormat``, ``InputTooLarge``…: the nearest :mod:`indexflow.errors` class);
  anything else a parser raises becomes a ``ParseError``, as :func:`~indexflow.parsers.parse`
  promises.

Processes. A :class:`ParseSandbox` keeps a small pool of warm children, each serving one parse
at a time: a parse takes an idle child or starts one (so the pool grows to the number of
threads parsing at once), and gives it back, unless it was killed, ran out of memory, or has
served ``max_parses_per_process`` parses (then it is replaced, which also hands back whatever
its heap grew to). A child is a fresh interpreter (the ``spawn`` model, never a ``fork`` of the
threaded worker) that imports the parsers and their libraries before it reports ready, so a
parse never waits for imports and the limits never count them. It is started with
:mod:`subprocess` rather than :mod:`multiprocessing`, whose spawn and forkserver methods run
the parent's ``__main__`` again in every child: a user's script without an
``if __name__ == "__main__"`` guard would start over in each parser process. A child runs only
this module; it gets the parent's ``sys.path``, its own session (a Ctrl-C in the terminal is
the parent's business), and ``RLIMIT_CPU`` a little over the time limit for each parse, so it
dies on its own if its parent did. One sandbox serves the whole process
(:func:`shared_sandbox`); it is closed at exit.

Formats. The child parses with the parent's format registry: formats registered at run time
(plug-ins, tests) travel with each request, so they must be picklable: give ``parser`` and
``sniff`` as ``"module:function"`` references or module-level functions (a lambda is refused
with a ``ConfigurationError``). The child imports them itself.

Platforms. Linux and macOS (indexflow needs POSIX anyway). Without the :mod:`resource` module
the memory and CPU limits are not set; the wall-time limit holds everywhere. ``indexflow
preview`` parses in-process (its caller waits for it and can interrupt it); the pipeline's
parse stage always uses the sandbox.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import math
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from indexflow import errors
from indexflow.domain.components import Component, ParsedDocument
from indexflow.errors import ConfigurationError, IndexflowError, InputTooLarge, ParseError, TransientError
from indexflow.parsers import registry
from indexflow.parsers.base import display_name

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 120
DEFAULT_MAX_MEMORY_MB = 2048
MAX_PARSES_PER_PROCESS = 200
MAX_IDLE_PROCESSES = 4
START_TIMEOUT_SECONDS = 60.0
CPU_SLACK_SECONDS = 5
# A child imports these before it reports ready (the parsers import their libraries lazily).
PRELOAD = (
    "indexflow.parsers.text",
    "indexflow.parsers.markdown",
    "indexflow.parsers.html",
    "indexflow.parsers.pdf",
    "indexflow.parsers.docx",
    "indexflow.parsers.json_tree",
    "markdown_it",
    "bs4",
    "lxml.etree",
    "docx",
    "pypdf",
    "charset_normalizer",
)

_POLL_SECONDS = 0.2  # the wait is sliced so that a Dramatiq time limit can interrupt it
_STOP = b""  # a request header that tells a child to exit
_READY = b"ready"
# The child's whole program: take sys.path from the parent, then serve on the inherited socket.
_BOOT = (
    "import pickle, sys\n"
    "from multiprocessing.connection import Connection\n"
    "conn = Connection(int(sys.argv[1]))\n"
    "sys.path[:] = pickle.loads(conn.recv_bytes())\n"
    "from indexflow.parsers.sandbox import serve\n"
    "serve(conn)\n"
)


def parse_isolated(
    data: bytes,
    filename: str | None = None,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_memory_mb: int = DEFAULT_MAX_MEMORY_MB,
    max_bytes: int = 200_000_000,
) -> ParsedDocument:
    """:func:`indexflow.parsers.parse` in the process-wide sandbox (see :meth:`ParseSandbox.parse`)."""
    return shared_sandbox().parse(
        data, filename, timeout_seconds=timeout_seconds, max_memory_mb=max_memory_mb, max_bytes=max_bytes
    )


class _Child:
    """One sandbox process and the parent's end of its socket."""

    __slots__ = ("conn", "parses", "process")

    def __init__(self, process: subprocess.Popen[bytes], conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.parses = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None


class ParseSandbox:
    """A pool of warm parser processes; :meth:`parse` is safe to call from many threads.

    Args:
        max_idle: idle children kept warm; more are stopped when they come back.
        max_parses_per_process: a child is replaced after serving this many parses.
    """

    def __init__(
        self, *, max_idle: int = MAX_IDLE_PROCESSES, max_parses_per_process: int = MAX_PARSES_PER_PROCESS
    ) -> None:
        self.max_idle = max_idle
        self.max_parses_per_process = max_parses_per_process
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.started = 0  # children started so far (for tests and diagnostics)
        self.killed = 0  # children killed at a limit (time, memory) or dead in the middle of a parse

    @property
    def closed(self) -> bool:
        return self._closed

    def pids(self) -> list[int]:
        """The process ids of the live children, idle and busy."""
        with self._lock:
            return [c.pid for c in (*self._idle, *self._busy)]

    def parse(
        self,
        data: bytes,
        filename: str | None = None,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_memory_mb: int = DEFAULT_MAX_MEMORY_MB,
        max_bytes: int = 200_000_000,
    ) -> ParsedDocument:
        """Parse ``data`` in a child process, in at most ``timeout_seconds`` and ``max_memory_mb``.

        Raises:
            InputTooLarge: over a limit ("<name>: parse exceeded 120 s", "... 2048 MB"), or the
                parser's own (too many pages, components, bytes).
            ParseError, UnsupportedFormat: the parser's, class and message kept.
            ConfigurationError: a registered format cannot be sent to the child (a lambda).
            TransientError: no child process could be started.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"parse() needs bytes, got {type(data).__name__}")
        name = display_name(filename)
        if len(data) > max_bytes:  # refused here: no need to copy it to a child first
            raise InputTooLarge(f"{name}: {len(data)} bytes is over the limit of {max_bytes} bytes")
        header = _request_header(filename, max_bytes, max_memory_mb, timeout_seconds)
        for attempt in (1, 2):
            child = self._acquire()
            try:
                reply = self._exchange(child, header, data, timeout_seconds, max_memory_mb, name)
            except _ChildGone:
                self._discard(child)
                if attempt == 2:
                    raise TransientError("parse sandbox: the parser process ended at once") from None
                continue
            except IndexflowError:
                self._discard(child, at_limit=True)  # over the time limit, or died mid-parse
                raise
            except BaseException:
                # An interruption (a Dramatiq time limit) in the middle of an exchange: the
                # child's state is unknown, so it never serves again.
                self._discard(child)
                raise
            if reply[0] == "memory":
                self._discard(child, at_limit=True)  # its heap is spent: a fresh one serves the next parse
            else:
                self._release(child)
            return _result(reply, name, max_memory_mb)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Stop every child: idle ones are asked to exit, busy ones are killed."""
        with self._lock:
            self._closed = True
            idle, busy = self._idle, list(self._busy)
            self._idle = []
        for child in idle:
            _stop(child)
        for child in busy:
            _kill(child)

    # -- the pool -------------------------------------------------------------------------

    def _acquire(self) -> _Child:
        while True:
            with self._lock:
                if self._closed:
                    raise TransientError("parse sandbox is closed")
                child = self._idle.pop() if self._idle else None
                if child is not None:
                    self._busy.add(child)
            if child is None:
                break
            if child.alive():
                return child
            self._discard(child)  # died while idle (killed from outside): start another
        child = _start()
        with self._lock:
            self.started += 1
            self._busy.add(child)
        return child

    def _release(self, child: _Child) -> None:
        child.parses += 1
        with self._lock:
            self._busy.discard(child)
            keep = (
                not self._closed
                and child.parses < self.max_parses_per_process
                and len(self._idle) < self.max_idle
            )
            if keep:
                self._idle.append(child)
        if not keep:
            _stop(child)

    def _discard(self, child: _Child, *, at_limit: bool = False) -> None:
        with self._lock:
            self._busy.discard(child)
            self.killed += at_limit
        _kill(child)

    # -- one request ----------------------------------------------------------------------

    def _exchange(
        self, child: _Child, header: bytes, data: bytes, timeout: float, memory_mb: int, name: str
    ) -> tuple[Any, ...]:
        deadline = time.monotonic() + timeout
        conn = child.conn
        try:
            conn.send_bytes(header)
            conn.send_bytes(data)
        except OSError as exc:
            raise _ChildGone from exc
        while not conn.poll(max(0.0, min(_POLL_SECONDS, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:  # parse() kills the child on the way out
                raise InputTooLarge(f"{name}: parse exceeded {_seconds(timeout)} s")
        try:
            reply = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            raise _died(child, name, timeout, memory_mb) from None
        if not isinstance(reply, tuple) or not reply:
            raise ParseError(f"{name}: the parser process sent an unreadable reply")
        return reply


class _ChildGone(Exception):
    """The child was gone before it took the request: retry once with a fresh one."""


_shared: ParseSandbox | None = None
_shared_lock = threading.Lock()


def shared_sandbox() -> ParseSandbox:
    """The process-wide sandbox, started on first use and closed at exit."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.closed:
            _shared = ParseSandbox()
            atexit.register(_shared.close)
        return _shared


# -- parent-side helpers ------------------------------------------------------------------


def _start() -> _Child:
    """Start a child and wait until it has imported the parsers."""
    ours, theirs = socket.socketpair()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # a library's print() must not reach the worker's output
            start_new_session=True,
        )
    except OSError as exc:
        ours.close()
        raise TransientError(f"parse sandbox: could not start a parser process: {exc}") from exc
    finally:
        theirs.close()
    child = _Child(process, Connection(ours.detach()))
    try:
        child.conn.send_bytes(pickle.dumps(list(sys.path)))
        ready = child.conn.poll(START_TIMEOUT_SECONDS) and child.conn.recv_bytes() == _READY
    except (EOFError, OSError):
        ready = False
    if not ready:
        _kill(child)
        raise TransientError(
            f"parse sandbox: the parser process did not start within {START_TIMEOUT_SECONDS:.0f} s "
            f"(exit code {process.returncode})"
        )
    return child


def _request_header(filename: str | None, max_bytes: int, memory_mb: int, timeout: float) -> bytes:
    """What the child needs besides the bytes: limits, and the registry if it is not the built-in one."""
    formats = registry.formats()
    extra = None if formats == registry.BUILTIN_FORMATS else formats
    cpu_seconds = math.ceil(timeout) + CPU_SLACK_SECONDS
    try:
        return pickle.dumps((filename, max_bytes, memory_mb * 1024 * 1024, cpu_seconds, extra))
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ConfigurationError(
            "a registered format cannot be sent to the parse sandbox: give its parser and sniffer "
            f"as 'module:function' references or module-level functions ({exc})"
        ) from exc


def _result(reply: tuple[Any, ...], name: str, memory_mb: int) -> ParsedDocument:
    kind = reply[0]
    if kind == "ok":
        return _unpack(reply[1])
    if kind == "memory":
        raise InputTooLarge(f"{name}: parse exceeded {memory_mb} MB")
    if kind == "error":
        cls = getattr(errors, str(reply[1]), None)
        if not (isinstance(cls, type) and issubclass(cls, IndexflowError)):
            cls = ParseError
        raise cls(str(reply[2]))
    if kind == "config":
        raise ConfigurationError(f"parse sandbox: a parser process cannot load the formats: {reply[1]}")
    raise ParseError(f"{name}: the parser process sent an unreadable reply")


def _died(child: _Child, name: str, timeout: float, memory_mb: int) -> IndexflowError:
    """The error for a child that ended in the middle of a parse."""
    try:
        code: int | None = child.process.wait(5)
    except subprocess.TimeoutExpired:
        code = None
    if code == -signal.SIGXCPU:  # its CPU-time backstop: threads in a C library outran the clock
        return InputTooLarge(f"{name}: parse exceeded {_seconds(timeout)} s (of CPU time)")
    if code is not None and code < 0:
        try:
            signame = signal.Signals(-code).name
        except ValueError:
            signame = f"signal {-code}"
        return InputTooLarge(f"{name}: parse exceeded {memory_mb} MB (the parser process died of {signame})")
    return ParseError(f"{name}: could not parse: the parser process ended unexpectedly (exit code {code})")


def _pack(parsed: ParsedDocument) -> tuple[Any, ...]:
    """A parsed document as plain columns: pickled and unpickled in a fraction of the time its
    Component objects take (500,000 components: 1 s instead of 6.5 s)."""
    comps = parsed.components
    columns = (
        [c.id for c in comps],
        [c.parent_id for c in comps],
        [c.position for c in comps],
        [c.kind for c in comps],
        [c.text for c in comps],
        [c.path for c in comps],
    )
    return parsed.format, parsed.title, parsed.metadata, columns


def _unpack(packed: tuple[Any, ...]) -> ParsedDocument:
    fmt, title, metadata, columns = packed
    paused = gc.isenabled()
    gc.disable()  # a million new objects would run the collector hundreds of times for nothing
    try:
        components = list(map(Component, *columns))
    finally:
        if paused:
            gc.enable()
    return ParsedDocument(format=fmt, components=components, title=title, metadata=metadata)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _kill(child: _Child) -> None:
    """SIGKILL the child and reap it."""
    process = child.process
    with contextlib.suppress(OSError):
        if process.poll() is None:
            process.kill()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused; a stuck kernel
        log.warning("parse sandbox: parser process %s did not die after SIGKILL", process.pid)
    child.conn.close()


def _stop(child: _Child) -> None:
    """Ask an idle child to exit; kill it if it has not within a second."""
    with contextlib.suppress(OSError):
        child.conn.send_bytes(_STOP)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.process.wait(1)
    _kill(child)


# -- the child ----------------------------------------------------------------------------

_MEMORY_REPLY = pickle.dumps(("memory",))


def serve(conn: Connection) -> None:
    """A child's loop (run by ``_BOOT``): one request at a time until told to stop or orphaned."""
    import importlib
    import warnings

    warnings.simplefilter("ignore")  # parsers are warning-free in-process; a child has no one to tell
    logging.getLogger().addHandler(logging.NullHandler())  # no lastResort lines from pypdf on stderr
    for module in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    limits = _ChildLimits()
    conn.send_bytes(_READY)
    while True:
        try:
            header = conn.recv_bytes()
            if header == _STOP:
                return
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the parent is gone
        reply, retire = _handle(header, data, limits)
        del data
        try:
            conn.send_bytes(reply)
        except OSError:
            return
        if retire:
            return


def _handle(header: bytes, data: bytes, limits: _ChildLimits) -> tuple[bytes, bool]:
    """Parse one request; the reply (pickled) and whether this child must retire after it."""
    from indexflow.parsers import parse

    try:
        filename, max_bytes, memory_bytes, cpu_seconds, formats = pickle.loads(header)
        _use_formats(formats)
    except Exception as exc:  # noqa: BLE001 - a plug-in that does not import here: reported to the parent
        return pickle.dumps(("config", f"{type(exc).__name__}: {exc}")), False
    try:
        limits.set(memory_bytes, cpu_seconds)
        parsed = parse(data, filename, max_bytes=max_bytes)
        return pickle.dumps(("ok", _pack(parsed)), pickle.HIGHEST_PROTOCOL), False
    except MemoryError:
        return _MEMORY_REPLY, True
    except IndexflowError as exc:
        if _caused_by_memory(exc):
            return _MEMORY_REPLY, True
        return pickle.dumps(("error", _public_class(exc), str(exc))), False
    except Exception as exc:  # noqa: BLE001 - parse() lets a sniffer's bug through; it is a ParseError here
        message = f"{display_name(filename)}: could not parse: {type(exc).__name__}: {exc}"
        return pickle.dumps(("error", "ParseError", message)), False
    finally:
        limits.clear()


class _ChildLimits:
    """The child's ``RLIMIT_AS`` and ``RLIMIT_CPU``, set per request (no-ops without ``resource``)."""

    def __init__(self) -> None:
        try:
            import resource
        except ImportError:  # Windows: the wall-time limit is all there is
            self._resource: Any = None
            return
        self._resource = resource
        self._as = resource.getrlimit(resource.RLIMIT_AS)
        self._cpu = resource.getrlimit(resource.RLIMIT_CPU)

    def set(self, memory_bytes: int, cpu_seconds: int) -> None:
        r = self._resource
        if r is None:
            return
        r.setrlimit(r.RLIMIT_AS, (_capped(memory_bytes, self._as[1], r), self._as[1]))
        usage = r.getrusage(r.RUSAGE_SELF)
        used = math.ceil(usage.ru_utime + usage.ru_stime)
        r.setrlimit(r.RLIMIT_CPU, (_capped(used + cpu_seconds, self._cpu[1], r), self._cpu[1]))

    def clear(self) -> None:
        r = self._resource
        if r is None:
            return
        r.setrlimit(r.RLIMIT_AS, self._as)
        r.setrlimit(r.RLIMIT_CPU, self._cpu)


def _capped(value: int, hard: int, resource: Any) -> int:
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def _use_formats(formats: tuple[registry.Format, ...] | None) -> None:
    """Make this process's registry the parent's (the built-in formats when ``formats`` is None)."""
    wanted = registry.BUILTIN_FORMATS if formats is None else tuple(formats)
    if registry.formats() == wanted:
        return
    for name in registry.names():
        registry.unregister(name)
    for fmt in wanted:
        registry.register(fmt)


def _caused_by_memory(exc: BaseException) -> bool:
    """True when a MemoryError is somewhere in the chain (parsers wrap it in their own errors)."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 20:
        if isinstance(cause, MemoryError):
            return True
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return False


def _public_class(exc: IndexflowError) -> str:
    """The nearest class of :mod:`indexflow.errors` (a plug-in's own subclass travels as its base)."""
    for cls in type(exc).__mro__:
        if cls.__module__ == errors.__name__ and issubclass(cls, IndexflowError):
            return cls.__name__
    return "ParseError"
