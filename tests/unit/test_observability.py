"""Metrics and structured logs at the execution layer, and the log formats themselves.

The facade runs on the doubles (``MemoryStore``; a ``HashEncoder`` that fails on purpose); SQLite,
the in-process worker, ``tasks/execute.py``'s classification and the metrics are real. Counters
are the process's: each test compares before and after.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexflow.errors import EncoderUnavailable
from indexflow.observability import metrics
from indexflow.observability.logs import (
    REQUEST_ID,
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    configure_logging,
)
from indexflow.settings import Settings
from indexflow.testing import HashEncoder, MemoryStore
from tests.texts import BEES


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


class FailingEncoder(HashEncoder):
    """Fails its first ``times`` batches with ``error`` (after ``sleep`` seconds), then encodes."""

    def __init__(self, error: BaseException, times: int = 1, sleep: float = 0.0) -> None:
        super().__init__()
        self.error, self.left, self.sleep = error, times, sleep

    def encode(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        if self.left > 0:
            self.left -= 1
            deadline = time.monotonic() + self.sleep
            while time.monotonic() < deadline:  # short sleeps: a time limit can interrupt them
                time.sleep(0.02)
            raise self.error
        return super().encode(texts)


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    path = tmp_path / "bees.txt"
    path.write_text(BEES * 3)
    return path


def _ingest(settings: Settings, encoder: HashEncoder, doc: Path) -> str:
    from indexflow import Indexflow

    with Indexflow(settings, store=MemoryStore(), encoder=encoder) as ix:
        report = ix.ingest([str(doc)], dataset="obs", timeout=60)
        [document] = report.documents
        return document.status


@pytest.mark.timeout(120)
def test_an_unknown_error_past_the_retry_limit_fails_the_plan_and_counts_as_unknown(
    settings: Settings, doc: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="indexflow.stage")
    before = sample("indexflow_failures_total", stage="embed", error_class="unknown")
    retries = sample("indexflow_retries_total", stage="embed", error_class="unknown")
    # given an encoder with a bug and no retries allowed for unknown errors
    settings = settings.model_copy(update={"max_embed_retries": 0})
    # when a document is ingested, then its plan fails
    assert _ingest(settings, FailingEncoder(RuntimeError("a bug")), doc) == "FAILED"
    # and the failure counts once, as unknown, and no retry does
    assert sample("indexflow_failures_total", stage="embed", error_class="unknown") == before + 1
    assert sample("indexflow_retries_total", stage="embed", error_class="unknown") == retries
    # and the stage's log event says so, with its plan, document and dataset
    [event] = [r for r in caplog.records if r.name == "indexflow.stage" and r.__dict__["stage"] == "embed"]
    fields = event.__dict__
    assert (fields["outcome"], fields["error_class"], fields["dataset"]) == ("failed", "unknown", "obs")
    assert isinstance(fields["plan_id"], int) and isinstance(fields["document_id"], int)
    assert fields["duration_ms"] >= 0


@pytest.mark.timeout(120)
def test_a_transient_error_counts_one_retry_and_the_batch_then_embeds(
    settings: Settings, doc: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="indexflow.stage")
    before = sample("indexflow_retries_total", stage="embed", error_class="transient")
    chunks = sample("indexflow_chunks_embedded_total", profile="default")
    # given an encoder that is unreachable once, and short backoffs
    settings = settings.model_copy(update={"retry_max_backoff_seconds": 0.1, "lease_seconds": 5})
    # when a document is ingested, then it is embedded in the end
    assert _ingest(settings, FailingEncoder(EncoderUnavailable("down for a moment")), doc) == "EMBEDDED"
    # and one retry counts, as transient; the chunks count once, when their batch committed
    assert sample("indexflow_retries_total", stage="embed", error_class="transient") == before + 1
    assert sample("indexflow_chunks_embedded_total", profile="default") > chunks
    embeds = [
        r.__dict__ for r in caplog.records if r.name == "indexflow.stage" and r.__dict__["stage"] == "embed"
    ]
    assert [(e["outcome"], e.get("error_class")) for e in embeds] == [("retry", "transient"), ("ok", None)]


@pytest.mark.timeout(120)
def test_a_batch_over_its_time_limit_fails_and_counts_as_a_timeout(settings: Settings, doc: Path) -> None:
    before = sample("indexflow_failures_total", stage="embed", error_class="timeout")
    chunks = sample("indexflow_chunks_embedded_total", profile="default")
    # given an embed time limit of 1 s and an encoder that takes 10 s
    settings = settings.model_copy(update={"embed_timeout_seconds": 1})
    encoder = FailingEncoder(EncoderUnavailable("never reached"), sleep=10)
    # when a document is ingested, then it fails within the limit, counted as a timeout
    started = time.monotonic()
    assert _ingest(settings, encoder, doc) == "FAILED"
    assert time.monotonic() - started < 9
    assert sample("indexflow_failures_total", stage="embed", error_class="timeout") == before + 1
    assert sample("indexflow_chunks_embedded_total", profile="default") == chunks


def test_a_stage_run_that_ends_by_an_exception_counts_as_a_transient_retry() -> None:
    # given a run left by an exception before it said how it ended (the database went away)
    before = sample("indexflow_retries_total", stage="bundle", error_class="transient")
    runs = sample("indexflow_stage_duration_seconds_count", stage="bundle", outcome="retry")
    with pytest.raises(ConnectionError), metrics.stage_run("bundle"):
        metrics.embedded("default", 5, 50)  # recorded only for a run that ends ok
        raise ConnectionError("gone")
    # then it is one retry of its stage, timed, and embedded nothing
    assert sample("indexflow_retries_total", stage="bundle", error_class="transient") == before + 1
    assert sample("indexflow_stage_duration_seconds_count", stage="bundle", outcome="retry") == runs + 1


def _record(msg: str = "parse ok in %d ms", *args: Any, exc: bool = False, **extra: Any) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("broken")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.getLogger("indexflow.stage").makeRecord(
        "indexflow.stage", logging.INFO, __file__, 1, msg, args or (12,), exc_info, extra=extra
    )
    return record


def test_a_json_line_carries_the_message_the_extra_fields_and_the_traceback() -> None:
    line = JsonFormatter().format(
        _record(stage="parse", outcome="ok", duration_ms=12.5, plan_id=None, path=Path("/x"), exc=True)
    )
    out = json.loads(line)
    assert (out["level"], out["logger"], out["message"]) == ("INFO", "indexflow.stage", "parse ok in 12 ms")
    assert (out["stage"], out["outcome"], out["duration_ms"], out["plan_id"]) == ("parse", "ok", 12.5, None)
    assert out["path"] == "/x"  # what JSON cannot hold is written as a string
    assert "ValueError: broken" in out["exc"] and out["ts"].endswith("+00:00")
    assert out["pid"] == os.getpid()
    assert "\n" not in line


def test_a_text_line_ends_with_the_fields_as_key_value_pairs() -> None:
    line = TextFormatter().format(_record(stage="parse", dataset="my docs", n=3))
    assert line.endswith('INFO indexflow.stage parse ok in 12 ms stage=parse dataset="my docs" n=3')


def test_the_request_id_goes_on_every_record_logged_while_it_is_set() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    try:
        log = logging.getLogger("tests.request")
        token = REQUEST_ID.set("req-9")
        log.info("inside")
        REQUEST_ID.reset(token)
        log.info("outside")
    finally:
        configure_logging("text")  # back to a handler on stderr
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["request_id"] == "req-9" and "request_id" not in outside
    # and a record that names its own request id keeps it
    record = _record(request_id="mine")
    token = REQUEST_ID.set("other")
    try:
        RequestIdFilter().filter(record)
    finally:
        REQUEST_ID.reset(token)
    assert record.__dict__["request_id"] == "mine"


def test_log_format_is_a_setting_and_refuses_other_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("INDEXFLOW_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("INDEXFLOW_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings()


def test_a_worker_metrics_endpoint_with_one_process_serves_the_process_registry_over_http() -> None:
    import httpx

    from indexflow.errors import ConfigurationError

    # given this process's endpoint on a free port
    endpoint = metrics.MetricsEndpoint("127.0.0.1", 0)
    try:
        metrics.CHUNKS_EMBEDDED.labels("endpoint-test").inc(7)
        # when it is scraped, then it serves the registry, indexflow's names only
        text = httpx.get(f"http://127.0.0.1:{endpoint.port}/metrics", timeout=10).text
        assert 'indexflow_chunks_embedded_total{profile="endpoint-test"} 7.0' in text
        names = [line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")]
        assert names and all(n.startswith("indexflow_") for n in names)
        # and a second endpoint on the same port is refused with a readable error
        with pytest.raises(ConfigurationError, match=f"cannot serve metrics on 127.0.0.1:{endpoint.port}"):
            metrics.MetricsEndpoint("127.0.0.1", endpoint.port)
    finally:
        endpoint.close()
    assert endpoint.path is None  # one process: no multiprocess folder
