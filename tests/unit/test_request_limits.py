"""The request body limits middleware on a bare Starlette app (no facade, nothing else)."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from indexflow.api.limits import RequestLimits, is_json

seen: list[int] = []


async def swallow(request: Request) -> JSONResponse:
    """Reads the body and hides any failure: its answer must not get through past a limit."""
    try:
        body = await request.body()
    except Exception as exc:  # noqa: BLE001 - on purpose: a careless route
        return JSONResponse({"ok": False, "why": type(exc).__name__})
    seen.append(len(body))
    return JSONResponse({"ok": True, "size": len(body)})


async def form(request: Request) -> JSONResponse:
    data = await request.form()
    return JSONResponse({"fields": list(data.keys())})


def _client(**limits: int) -> TestClient:
    app = Starlette(
        routes=[Route("/swallow", swallow, methods=["POST"]), Route("/form", form, methods=["POST"])],
        middleware=[Middleware(RequestLimits, **limits)],
    )
    return TestClient(app)


def _chunks(total: int, size: int = 100) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b"x" * size


def test_bodies_within_the_limits_pass_untouched() -> None:
    # given limits of 1000 bytes (JSON: 100); when smaller bodies come; then the route sees them
    client = _client(max_bytes=1000, max_json_bytes=100)
    assert client.post("/swallow", content=b"x" * 1000).json() == {"ok": True, "size": 1000}
    assert client.post("/swallow", json={"a": 1}).json()["ok"] is True


def test_a_body_over_the_limit_is_413_even_when_the_route_swallows_the_error() -> None:
    # given a route that hides errors; when bodies over the limit come (declared, then chunked)
    seen.clear()
    client = _client(max_bytes=1000, max_json_bytes=100)
    declared = client.post("/swallow", content=b"x" * 1001)
    chunked = client.post("/swallow", content=_chunks(1500))
    json_type = {"content-type": "application/json"}
    as_json = client.post("/swallow", content=b"[" + b"1," * 60 + b"1]", headers=json_type)
    # then each is answered 413 too_large by the middleware, and the route never got a body
    for resp in (declared, chunked, as_json):
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large", resp.text
        assert resp.headers["connection"] == "close"
    assert seen == []


def test_a_multipart_body_over_the_limit_is_cut_off_before_it_is_spooled() -> None:
    # given a 1000-byte limit; when a chunked multipart body of 5000 bytes comes
    client = _client(max_bytes=1000)

    def body() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        yield from _chunks(5000)
        yield b"\r\n--b--\r\n"

    resp = client.post("/form", content=body(), headers={"content-type": "multipart/form-data; boundary=b"})
    # then 413 (Starlette's own 400 or 500 never shows)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_large"


def test_an_invalid_content_length_is_422() -> None:
    client = _client(max_bytes=1000)
    resp = client.post("/swallow", content=b"x", headers={"content-length": "-5"})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_request"


def test_without_a_facade_the_default_limits_hold() -> None:
    # given the middleware with no limits and no facade: the settings' defaults apply (never none)
    client = _client()
    resp = client.post("/swallow", content=b"x", headers={"content-length": str(200_000_000)})
    assert resp.status_code == 413
    assert client.post("/swallow", json={"q": "x" * 2_000_000}).status_code == 413


def test_json_content_types_are_recognised() -> None:
    assert is_json("application/json") and is_json("Application/JSON; charset=utf-8")
    assert is_json("application/problem+json") and not is_json("text/plain") and not is_json(None)
