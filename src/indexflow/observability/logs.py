"""Structured logs: one line per event, as JSON or as text, with the request id of an API call.

    configure_logging("json")      # serve / worker --log-format json (INDEXFLOW_LOG_FORMAT)

A JSON line carries ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``pid``, every field a
caller passed in ``extra=`` (a stage run's ``stage``, ``outcome``, ``duration_ms``,
``plan_id``, ``document_id``, ``dataset`` …), ``request_id`` while an HTTP request is being
served, and ``exc`` (the traceback) when there is one. A text line is
``<time> <LEVEL> <logger> <message> key=value …`` with the same fields.

The request id lives in a context variable (:data:`REQUEST_ID`), set by the API's
``RequestIds`` middleware for the whole request: the route, the threads it hands work to
(Starlette copies the context) and the access line all see it.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]

REQUEST_ID: ContextVar[str | None] = ContextVar("indexflow_request_id", default=None)
"""The id of the HTTP request being served in this context (None outside a request)."""

# What every LogRecord has: anything else on a record came from ``extra=`` (or a filter).
# (uvicorn adds ``color_message``, its message with terminal colours: not a field.)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class RequestIdFilter(logging.Filter):
    """Puts the current request id on each record (``record.request_id``) while one is set."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            rid = REQUEST_ID.get()
            if rid is not None:
                record.request_id = rid
        return True


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The record's own fields: those passed with ``extra=`` and the request id."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values that JSON cannot hold are written as strings."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # which of a worker's processes (`indexflow workers` lists pids)
        }
        out |= fields_of(record)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger> <message> key=value …`` (the fields in the JSON line)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = fields_of(record)
        if not extra:
            return line
        head, sep, tail = line.partition("\n")  # a traceback stays below the fields
        pairs = " ".join(f"{k}={_text_value(v)}" for k, v in extra.items())
        return f"{head} {pairs}{sep}{tail}"


def _text_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (not text or " " in text or '"' in text) else text


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at each record (a CLI test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure_logging(
    fmt: LogFormat = "text", *, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Send every logger's records to one handler on ``stream`` (default: stderr) in format ``fmt``.

    Replaces the root logger's handlers (calling it again switches the format); loggers that
    propagate (uvicorn's, when serve hands it ``log_config=None``) come through it too.
    """
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
