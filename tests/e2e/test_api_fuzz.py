"""Schemathesis over ``/openapi.json``: every operation gets generated requests, valid and invalid
(wrong types, out-of-range numbers, over-long strings, unknown fields, odd characters); none may
get a 5xx, and every 4xx carries the error body ``{"error": {"code", "message"}}``.

The app runs on the test doubles (``MemoryStore``, ``HashEncoder``) over a real SQLite state
database and the in-process worker, so the file stays well under a minute.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python import asgi

pytestmark = pytest.mark.e2e

EXAMPLES = 50  # per operation: about 25 s for the whole file on 2 cores
EVENT_EXAMPLES = 4  # each event-stream request waits for its read timeout
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True
)

# Bearer auth: an admin key is created on the app's facade and every request sends it, so the
# whole API is exercised past the key check. Set to False to fuzz the keyless (open) API.
USE_API_KEY = True


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    from indexflow.api.app import create_app
    from indexflow.settings import Settings
    from indexflow.testing import HashEncoder, MemoryStore

    home: Path = tmp_path_factory.mktemp("fuzz") / "state"
    app = create_app(Settings(home=home, lease_seconds=60), store=MemoryStore(), encoder=HashEncoder())
    yield app
    ix = getattr(app.state, "ix", None)
    if ix is not None:  # let generated work (a profile activation's plans) finish: close is quick
        with contextlib.suppress(TimeoutError):
            ix.wait([p.plan_id for p in ix.plans.list()], timeout=30)
    asgi.shutdown_lifespans()  # schemathesis started the app's lifespan: this closes the facade


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> Any:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)  # starts the lifespan
    _seed(fuzz_app)
    return loaded


@pytest.fixture(scope="module")
def api_headers(api_schema: Any, fuzz_app: FastAPI) -> dict[str, str]:
    """The headers every generated request sends: the hook for API keys (see ``USE_API_KEY``)."""
    if not USE_API_KEY:
        return {}
    created = fuzz_app.state.ix.keys.create("fuzz", role="admin")
    return {"Authorization": f"Bearer {created.secret}"}


def _seed(app: FastAPI) -> None:
    """A few rows for generated ids to hit: documents 1-2, their plans and chunks, a profile."""
    ix = app.state.ix
    plan_ids: list[int] = []
    for n, text in enumerate(("Bees make honey in summer.", "Trains run on rails at night.")):
        plan_ids += ix.enqueue_source(f"seed://docs/{n}.txt", dataset="docs", data=text.encode()).plan_ids
    ix.profiles.create("seeded", chunk_size=64, chunk_overlap=8)
    ix.wait(plan_ids, timeout=60)


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the app documents (read at collection, no lifespan)."""
    from indexflow.api.app import create_app

    paths = create_app().openapi()["paths"]
    return [(method.upper(), path) for path, item in sorted(paths.items()) for method in sorted(item)]


OPERATIONS = _operations()


def _check(response: Any) -> None:
    where = f"{response.request.method} {response.request.url}"
    assert response.status_code < 500, f"{where} → {response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, f"{where}: {body}"
        assert set(body["error"]) == {"code", "message"}, f"{where}: {body}"
        assert body["error"]["code"] and body["error"]["message"], f"{where}: {body}"
        message = body["error"]["message"]
        for raw in ("validation error for", "errors.pydantic.dev", "input_value=", "Traceback"):
            assert raw not in message, f"{where}: a raw dump in the message {body}"


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_generated_request_gets_a_server_error_and_every_client_error_has_the_error_body(
    api_schema: Any, api_headers: dict[str, str], method: str, path: str
) -> None:
    # given the app on the doubles, and valid and invalid requests generated for one operation
    operation = api_schema[path][method]
    cases = st.one_of(*[operation.as_strategy(mode) for mode in GenerationMode])
    # the endless event stream is read until a short timeout, so it gets fewer examples
    stream = path == "/v1/events"
    timeout = 0.5 if stream else 30

    statuses: list[int] = []

    @settings(FUZZ_SETTINGS, max_examples=EVENT_EXAMPLES if stream else EXAMPLES)
    @given(case=cases)
    def call(case: schemathesis.Case) -> None:
        # when schemathesis sends it
        response = case.call(headers=api_headers, timeout=timeout)
        statuses.append(response.status_code)
        # then it is never a 5xx, and a 4xx says what was wrong in the error body
        _check(response)

    call()
    # and the requests got past the key check (a fuzz of 401s alone would prove nothing)
    assert any(status not in (401, 403) for status in statuses), statuses
