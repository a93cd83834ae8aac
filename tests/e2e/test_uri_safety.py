"""URI ingest over the HTTP API cannot reach the server's files or internal hosts; bodies are bounded.

The HTTP servers here are real ones, started on 127.0.0.1 by the tests: a loopback address, so
refused unless ``api_allow_hosts`` lists it. Refusals are checked to leave nothing registered and
to contact nothing.
"""

from __future__ import annotations

import inspect
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from indexflow.settings import Settings

pytestmark = pytest.mark.e2e

TEXT = b"Compost heaps need browns and greens: autumn leaves, cardboard, grass clippings, peelings.\n"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.hits.append((self.path, self.headers.get("Host", "")))
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/doc.txt":
            self._send(200, TEXT, length=True)
        elif parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts.path == "/slow":
            time.sleep(2.0)
            self._send(200, TEXT, length=True)
        elif parts.path == "/big-declared":
            self._send(200, b"x" * 5000, length=True)
        elif parts.path == "/big-streamed":  # no Content-Length: the body ends when the connection does
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"y" * 100)
        else:
            self._send(404, b"missing", length=True)

    def _send(self, status: int, body: bytes, *, length: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: list[tuple[str, str]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def serve() -> Iterator[Callable[[], _Server]]:
    """Start real HTTP servers on 127.0.0.1 (free ports); all stopped afterwards."""
    started: list[_Server] = []

    def start() -> _Server:
        server = _Server()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def make_client(home: Path) -> Iterator[Callable[..., TestClient]]:
    """A TestClient on ``create_app(Settings(home=…, **overrides))`` (doubles where create_app takes them)."""
    from indexflow.api.app import create_app

    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = Settings(home=home, lease_seconds=60, **overrides)
        doubles: dict[str, Any] = {}
        if "encoder" in inspect.signature(create_app).parameters:
            from indexflow.testing import HashEncoder, MemoryStore

            doubles = {"store": MemoryStore(), "encoder": HashEncoder()}
        client = TestClient(create_app(settings, **doubles))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _documents(client: TestClient) -> list[Any]:
    return list(cast(Any, client.app).state.ix.documents.list())


def _ingest(client: TestClient, uri: Any) -> Any:
    return client.post("/v1/datasets/d/documents", json={"uri": uri})


def _refused(resp: Any, reason: str) -> str:
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_request" and reason in error["message"], error
    return str(error["message"])


def _wait_finished(client: TestClient, document_id: int, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/documents/{document_id}").json()
        statuses = {p["status"] for p in doc["plans"]}
        if statuses and statuses <= {"EMBEDDED", "FAILED"}:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"document {document_id} did not finish: {doc}")


# -- SSRF ------------------------------------------------------------------------------------------
def test_a_loopback_server_is_refused_by_default_without_being_contacted(
    make_client: Callable[..., TestClient], serve: Callable[[], _Server]
) -> None:
    # given a real HTTP server on 127.0.0.1 and the default settings
    server = serve()
    client = make_client()
    # when its URL is ingested over the API
    resp = _ingest(client, server.url("/doc.txt"))
    # then 422 with the reason, nothing registered, and the server never saw a request
    _refused(resp, "host 127.0.0.1 resolves to a loopback address")
    assert _documents(client) == [] and server.hits == []


def test_an_allowed_host_is_fetched_and_indexed(
    make_client: Callable[..., TestClient], serve: Callable[[], _Server]
) -> None:
    # given the server's address in INDEXFLOW_API_ALLOW_HOSTS
    server = serve()
    client = make_client(api_allow_hosts=["127.0.0.1"])
    # when its URL is ingested
    url = server.url("/doc.txt")
    resp = _ingest(client, url)
    # then it is fetched once (the original Host header sent), registered and indexed
    assert resp.status_code == 202, resp.text
    assert server.hits == [("/doc.txt", f"127.0.0.1:{server.port}")]
    doc = _wait_finished(client, resp.json()["document_id"])
    assert doc["source"] == url and [p["status"] for p in doc["plans"]] == ["EMBEDDED"]


def test_a_redirect_from_an_allowed_host_to_a_refused_one_is_refused(
    make_client: Callable[..., TestClient], serve: Callable[[], _Server]
) -> None:
    # given an allowed host (by name) that redirects to a loopback address that is not allowed
    allowed, internal = serve(), serve()
    client = make_client(api_allow_hosts=["localhost"])
    hop = allowed.url(f"/redirect?to={internal.url('/doc.txt')}", host="localhost")
    # when it is ingested
    resp = _ingest(client, hop)
    # then the redirect target is refused before it is contacted, and nothing is registered
    _refused(resp, "redirected to a refused target")
    assert "host 127.0.0.1 resolves to a loopback address" in resp.json()["error"]["message"]
    assert len(allowed.hits) == 1
    assert internal.hits == [] and _documents(client) == []
    # and a redirect to another scheme (the server's files) is refused the same way
    resp = _ingest(client, allowed.url("/redirect?to=file:///etc/passwd", host="localhost"))
    _refused(resp, "scheme 'file' is not allowed")
    # while redirects between allowed URLs are followed, at most 5 of them
    onward = allowed.url("/doc.txt", host="localhost")
    resp = _ingest(client, allowed.url(f"/redirect?to={onward}", host="localhost"))
    assert resp.status_code == 202, resp.text
    _wait_finished(client, resp.json()["document_id"])
    _refused(_ingest(client, allowed.url("/loop", host="localhost")), "more than 5 redirects")


def test_a_slow_server_hits_the_read_timeout(
    make_client: Callable[..., TestClient], serve: Callable[[], _Server]
) -> None:
    # given an allowed server that takes 2 s to answer and a 0.3 s timeout
    server = serve()
    client = make_client(api_allow_hosts=["127.0.0.1"], uri_timeout_seconds=0.3)
    # when its URL is ingested
    started = time.monotonic()
    resp = _ingest(client, server.url("/slow"))
    # then it fails as a timeout (503, retry later) well before the server answers; nothing registered
    assert resp.status_code == 503 and "timed out after 0.3 s" in resp.json()["error"]["message"]
    assert time.monotonic() - started < 1.8 and _documents(client) == []


@pytest.mark.parametrize("path", ["/big-declared", "/big-streamed"])
def test_a_body_over_the_byte_limit_is_cut_off(
    make_client: Callable[..., TestClient], serve: Callable[[], _Server], path: str
) -> None:
    # given an allowed server sending 5000 bytes (with and without Content-Length), a 1000-byte limit
    server = serve()
    client = make_client(api_allow_hosts=["127.0.0.1"], max_document_bytes=1000)
    # when its URL is ingested; then 413, nothing registered
    resp = _ingest(client, server.url(path))
    assert resp.status_code == 413, resp.text
    assert "over the 1000-byte limit" in resp.json()["error"]["message"] and _documents(client) == []


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("local:///etc/passwd", "local paths are not allowed"),
        ("file:///etc/passwd", "local paths are not allowed"),
        ("/etc/passwd", "local paths are not allowed"),
        ("simplecache::file:///etc/hostname", "URI chaining ('::') is not allowed"),
        ("ftp://127.0.0.1:1", "scheme 'ftp' is not allowed; allowed: http, https, s3, gs"),
        ("http://169.254.169.254/", "host 169.254.169.254 resolves to a cloud metadata address"),
        ("http://metadata.google.internal/computeMetadata/v1/", "is a cloud metadata host"),
        ("http://[::1]/", "host ::1 resolves to a loopback address"),
        ("http://0x7f000001/", "host 0x7f000001 resolves to a loopback address"),
        ("http://localhost./", "host localhost. resolves to a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "host ::ffff:127.0.0.1 resolves to a loopback address"),
        ("http://[::ffff:7f00:1]:8000/", "resolves to a loopback address"),
        ("http://10.0.0.1/", "resolves to a private address"),
        ("memory://bucket/doc.txt", "scheme 'memory' is not allowed"),
    ],
)
def test_sources_naming_the_server_or_its_network_are_refused_with_a_reason(
    make_client: Callable[..., TestClient], uri: str, reason: str
) -> None:
    # given the default settings; when such a URI is ingested; then 422 with the reason, nothing kept
    client = make_client()
    _refused(_ingest(client, uri), reason)
    assert _documents(client) == []


def test_refusals_are_no_port_oracle(make_client: Callable[..., TestClient]) -> None:
    # given one open port (listening, never accepting) and one closed port on 127.0.0.1
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    open_port = listener.getsockname()[1]
    client = make_client()
    try:
        # when both are ingested, by http and by ftp
        for scheme in ("http", "ftp"):
            answers = [_ingest(client, f"{scheme}://127.0.0.1:{p}/x.txt") for p in (open_port, closed_port)]
            # then both answers are the same refusal (apart from the echoed port)
            bodies = [re.sub(r":\d+/", ":PORT/", a.text) for a in answers]
            assert [a.status_code for a in answers] == [422, 422] and bodies[0] == bodies[1]
        # and no connection was attempted at all
        readable, _, _ = select.select([listener], [], [], 0.2)
        assert readable == []
    finally:
        listener.close()


def test_local_paths_are_allowed_only_under_the_local_roots(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    # given local paths allowed under one root, a secret next to it and a symlink out of it
    root = tmp_path / "shared"
    root.mkdir()
    (root / "notes.txt").write_bytes(TEXT)
    (tmp_path / "secret.txt").write_text("password=hunter2")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    client = make_client(api_allow_local_paths=True, api_local_roots=[root])
    # when paths escaping the root are ingested; then they are refused
    escapes = (f"{root}/../secret.txt", root / "escape.txt", f"file://{tmp_path}/secret.txt", "/etc/passwd")
    for escape in escapes:
        _refused(_ingest(client, str(escape)), "is outside INDEXFLOW_API_LOCAL_ROOTS")
    # and a folder, even inside, is refused (one document at a time)
    _refused(_ingest(client, str(root)), "is a folder")
    assert _documents(client) == []
    # while a file under the root is ingested
    resp = _ingest(client, f"file://{root}/notes.txt")
    assert resp.status_code == 202, resp.text
    _wait_finished(client, resp.json()["document_id"])
    assert [d.source for d in _documents(client)] == [str((root / "notes.txt").resolve())]


def test_local_paths_stay_refused_without_allow_local_paths(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    # given a root listed but local paths not allowed; then a file inside is still refused
    (tmp_path / "a.txt").write_bytes(TEXT)
    client = make_client(api_local_roots=[tmp_path])
    _refused(_ingest(client, str(tmp_path / "a.txt")), "local paths are not allowed")


# -- request limits --------------------------------------------------------------------------------
def _too_large(resp: Any) -> None:
    assert resp.status_code == 413, resp.text
    assert resp.json()["error"]["code"] == "too_large" and "limit" in resp.json()["error"]["message"]


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(
    make_client: Callable[..., TestClient],
) -> None:
    # given a 1000-byte upload limit and a request declaring 10 GB while sending a few bytes
    client = make_client(api_max_upload_bytes=1000)
    consumed: list[bool] = []

    def body() -> Iterator[bytes]:
        consumed.append(True)
        yield b"--b\r\n"

    resp = client.post(
        "/v1/datasets/d/documents",
        content=body(),
        headers={"content-type": "multipart/form-data; boundary=b", "content-length": str(10**10)},
    )
    # then 413 at once: the body was never read
    _too_large(resp)
    assert consumed == [] and _documents(client) == []


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(make_client: Callable[..., TestClient]) -> None:
    # given a 1000-byte upload limit; when a multipart upload of 5000 bytes comes without a length
    client = make_client(api_max_upload_bytes=1000)

    def body() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        yield b"z" * 5000
        yield b"\r\n--b--\r\n"

    resp = client.post(
        "/v1/datasets/d/documents",
        content=body(),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    # then 413, nothing registered
    _too_large(resp)
    assert _documents(client) == []


def test_an_oversize_upload_is_413_and_one_within_the_limit_is_accepted(
    make_client: Callable[..., TestClient],
) -> None:
    # given a 2000-byte upload limit
    client = make_client(api_max_upload_bytes=2000)
    # when a file over it is uploaded; then 413
    _too_large(client.post("/v1/datasets/d/documents", files={"file": ("a.txt", b"z" * 5000)}))
    # and a small one is accepted
    resp = client.post("/v1/datasets/d/documents", files={"file": ("a.txt", TEXT)})
    assert resp.status_code == 202, resp.text
    _wait_finished(client, resp.json()["document_id"])


def test_a_json_body_over_its_cap_is_413(make_client: Callable[..., TestClient]) -> None:
    # given a 200-byte JSON cap (uploads may be far larger)
    client = make_client(api_max_json_bytes=200)
    big = {"uri": "https://example.com/" + "a" * 500}
    # when a bigger JSON body is posted (declared, chunked, or sent as another content type)
    _too_large(_ingest(client, big))

    def chunks() -> Iterator[bytes]:
        yield b'{"uri": "https://example.com/'
        yield b"a" * 500
        yield b'"}'

    json_type = {"content-type": "application/json"}
    _too_large(client.post("/v1/datasets/d/documents", content=chunks(), headers=json_type))
    _too_large(client.post("/v1/datasets/d/documents", content=b'{"uri": "' + b"a" * 500 + b'"}'))
    # then every one is 413 (the search route too: the cap is on every JSON body)
    _too_large(client.post("/v1/search", json={"query": "q" * 500}))


@pytest.mark.parametrize(
    ("content", "ctype", "reason"),
    [
        (b"not json", "application/json", "send multipart/form-data with a file"),
        (b'{"uri": 123}', "application/json", "uri"),
        (b'{"uri": ', "application/json", "send multipart/form-data with a file"),
        (b"\xff\xfe\x00", "application/json", "send multipart/form-data with a file"),
        (b"", "application/json", "send multipart/form-data with a file"),
        (b"garbage", "multipart/form-data; boundary=xx", "malformed multipart body"),
        (b"garbage", "multipart/form-data", "malformed multipart body"),
        (
            b"--xx\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--xx--\r\n",
            "multipart/form-data; boundary=xx",
            "malformed multipart body",
        ),
        (
            b'--xx\r\nContent-Disposition: form-data; name="other"\r\n\r\nabc\r\n--xx--\r\n',
            "multipart/form-data; boundary=xx",
            "needs a file field named 'file'",
        ),
        (
            b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\na\r\n'
            b'--xx\r\nContent-Disposition: form-data; name="file"; filename="b"\r\n\r\nb\r\n--xx--\r\n',
            "multipart/form-data; boundary=xx",
            "Too many files",
        ),
    ],
)
def test_a_malformed_body_is_422_with_the_error_shape(
    make_client: Callable[..., TestClient], content: bytes, ctype: str, reason: str
) -> None:
    # given the API; when a malformed body is posted; then 422 invalid_request, never 409 or 500
    client = make_client()
    resp = client.post("/v1/datasets/d/documents", content=content, headers={"content-type": ctype})
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_request" and reason in error["message"], error
    assert _documents(client) == []


def test_over_a_real_socket_the_413_comes_before_the_body_is_sent(home: Path) -> None:
    # given the app served by uvicorn on a real socket, with a 10,000-byte upload limit
    import uvicorn

    from indexflow.api.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(Settings(home=home, api_max_upload_bytes=10_000)), log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        head = (
            "POST /v1/datasets/d/documents HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
        )
        # when a request declares 1 TB and sends no body at all; then 413 arrives anyway
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(f"{head}Content-Length: {10**12}\r\n\r\n".encode())
            assert _reply(conn).startswith(b"HTTP/1.1 413")
        # and when a chunked body streams past the limit; then 413 comes before the body ends
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
            for _ in range(3):
                conn.sendall(b"1000\r\n" + b"z" * 4096 + b"\r\n")
            reply = _reply(conn)
            assert reply.startswith(b"HTTP/1.1 413") and b'"too_large"' in reply
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _reply(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a 413 says Connection: close)."""
    out = b""
    while chunk := conn.recv(65536):
        out += chunk
    return out


# -- the connection goes to the vetted address -----------------------------------------------------
def _counting(table: dict[str, str], calls: list[str]) -> Any:
    import ipaddress

    def resolve(host: str, port: int) -> list[Any]:
        calls.append(host)
        return [ipaddress.ip_address(table[host])]

    return resolve


def test_the_fetch_connects_to_the_vetted_address_with_the_original_host_header(
    serve: Callable[[], _Server],
) -> None:
    # given an allowed name that only the policy's resolver knows (DNS has never heard of it)
    from indexflow.sources import UriPolicy

    server = serve()
    calls: list[str] = []
    policy = UriPolicy(allow_hosts=["docs.example"], resolver=_counting({"docs.example": "127.0.0.1"}, calls))
    # when it is fetched
    data = policy.read(f"http://docs.example:{server.port}/doc.txt", 10_000)
    # then the bytes came from the vetted address, asked for by the original Host, resolved once
    assert data == TEXT and calls == ["docs.example"]
    assert server.hits == [("/doc.txt", f"docs.example:{server.port}")]


def _tls_server(tmp_path: Path, name: str) -> tuple[_Server, Any, list[str]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for ``name``; SNI names seen."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    seen: list[str] = []
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    def note_sni(sock: Any, server_name: str | None, ctx: Any) -> None:
        seen.append(server_name or "")

    server_ctx.sni_callback = note_sni
    server = _Server()
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client_ctx = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client_ctx, seen


def test_https_to_the_vetted_address_checks_the_certificate_against_the_host_name(tmp_path: Path) -> None:
    # given an HTTPS server whose certificate names docs.example, reached through the vetted address
    from indexflow.errors import TransientError
    from indexflow.sources import UriPolicy

    server, trust, seen = _tls_server(tmp_path, "docs.example")
    table = {"docs.example": "127.0.0.1", "other.example": "127.0.0.1"}
    try:
        policy = UriPolicy(
            allow_hosts=["docs.example", "other.example"], resolver=_counting(table, []), verify=trust
        )
        # when it is fetched by its name; then TLS named it (SNI) and the certificate matched
        assert policy.read(f"https://docs.example:{server.port}/doc.txt", 10_000) == TEXT
        assert seen == ["docs.example"]
        # and another name on the same address fails verification: no certificate for it
        with pytest.raises(TransientError, match=r"(?i)certificate|hostname"):
            policy.read(f"https://other.example:{server.port}/doc.txt", 10_000)
    finally:
        server.shutdown()
        server.server_close()
