"""Remote sources on real servers: S3 against moto's S3-compatible server (its server mode, a
real HTTP endpoint on 127.0.0.1), http(s) against Python's static file server. Prefix listing,
unchanged objects skipped without a download, ``sync``, the extra named when a package is missing.

The servers' request logs are the witness for "not downloaded": every object GET appears there.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from indexflow import Indexflow
from indexflow.errors import TransientError
from indexflow.settings import Settings
from indexflow.sources.remote import list_uri
from indexflow.testing import HashEncoder, MemoryStore

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """``python -m moto.server`` on a free port; its request log in a file."""

    def __init__(self, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = open(log, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"moto server did not start:\n{log.read_text()}", pytrace=False)
                time.sleep(0.1)

    def object_gets(self, bucket: str, key: str) -> int:
        """How many times the object was downloaded (GET of its key, not a listing)."""
        pattern = re.compile(rf'"GET /{re.escape(bucket)}/{re.escape(key)}(\?[^ ]*)? HTTP')
        return len(pattern.findall(self.log.read_text()))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "requests.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 client on a fresh bucket; the standard AWS variables point s3fs at moto."""
    import boto3
    import s3fs

    env = {
        "AWS_ENDPOINT_URL": moto.url,  # botocore (so s3fs) honours it: no setting of ours needed
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()  # one made under other variables would be reused
    client = boto3.client("s3")
    client.bucket = f"ix-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=client.bucket)
    yield client
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def ix(tmp_path: Path) -> Iterator[Indexflow]:
    with Indexflow(Settings(home=tmp_path / "state"), store=MemoryStore(), encoder=HashEncoder()) as instance:
        yield instance


def _put(s3: Any, key: str, body: str) -> None:
    s3.put_object(Bucket=s3.bucket, Key=key, Body=body.encode())


def test_a_prefix_is_listed_and_unchanged_objects_are_not_downloaded_again(
    s3: Any, moto: MotoServer, ix: Indexflow
) -> None:
    b = s3.bucket
    # given objects under a prefix: two documents, a hidden one, a sidecar and an unsupported type
    _put(s3, "reports/alpha.txt", "Glaciers carve valleys over thousands of years.\n")
    _put(s3, "reports/q3/beta.md", "# Beta\n\nSourdough needs a lively starter and patience.\n")
    _put(s3, "reports/.draft.txt", "hidden")
    _put(s3, "reports/alpha.txt.meta.json", '{"team": "geo"}')
    _put(s3, "reports/deck.pptx", "PK")
    _put(s3, "elsewhere/gamma.txt", "Outside the prefix.\n")
    # when the prefix is ingested
    first = ix.ingest([f"s3://{b}/reports/"], dataset="docs")
    # then every supported object under it (recursively, sorted) is a document
    assert [d.source for d in first.documents] == [
        f"s3://{b}/reports/alpha.txt",
        f"s3://{b}/reports/q3/beta.md",
    ]
    assert [d.outcome for d in first.documents] == ["new", "new"]
    assert first.counts == {"EMBEDDED": 2} and first.skipped == [f"s3://{b}/reports/deck.pptx"]
    assert moto.object_gets(b, "reports/alpha.txt") >= 1 and moto.object_gets(b, "reports/.draft.txt") == 0
    downloads = moto.object_gets(b, "reports/alpha.txt"), moto.object_gets(b, "reports/q3/beta.md")

    # when it is ingested again, nothing having changed
    again = ix.ingest([f"s3://{b}/reports/"], dataset="docs")
    # then both are unchanged, with the same plans, and neither was downloaded (ETags compared)
    assert [d.outcome for d in again.documents] == ["unchanged", "unchanged"]
    assert again.plan_ids == first.plan_ids and again.counts == {"EMBEDDED": 2}
    assert (moto.object_gets(b, "reports/alpha.txt"), moto.object_gets(b, "reports/q3/beta.md")) == downloads

    # when one object is replaced with new content
    _put(s3, "reports/q3/beta.md", "# Beta\n\nRye bread wants a denser dough and a long proof.\n")
    changed = ix.ingest([f"s3://{b}/reports/"], dataset="docs")
    # then only it is downloaded and it is a new version
    assert [d.outcome for d in changed.documents] == ["unchanged", "changed"]
    assert moto.object_gets(b, "reports/alpha.txt") == downloads[0]
    assert moto.object_gets(b, "reports/q3/beta.md") > downloads[1]
    assert any("Rye bread" in h.text for h in ix.search("rye bread dough proof", dataset="docs", k=3))


def test_sync_deactivates_objects_gone_from_the_prefix_and_nothing_else(s3: Any, ix: Indexflow) -> None:
    b = s3.bucket
    _put(s3, "kb/keep.txt", "Tides follow the moon.\n")
    _put(s3, "kb/old/remove.txt", "Volcanic soil grows excellent grapes.\n")
    _put(s3, "kb-archive/other.txt", "A sibling prefix that merely starts alike.\n")
    ix.ingest([f"s3://{b}/kb/", f"s3://{b}/kb-archive/"], dataset="docs")
    assert ix.search("volcanic soil grapes", dataset="docs", k=5)[0].document.source.endswith("remove.txt")
    # given an object deleted from the prefix
    s3.delete_object(Bucket=b, Key="kb/old/remove.txt")
    # when the prefix is ingested without sync, nothing is deactivated
    plain = ix.ingest([f"s3://{b}/kb"], dataset="docs")
    assert plain.deactivated == []
    # when it is ingested with sync (named without the trailing slash: still the prefix)
    synced = ix.ingest([f"s3://{b}/kb"], dataset="docs", sync=True)
    # then exactly the deleted object's document is deactivated and gone from search
    assert synced.deactivated == [f"s3://{b}/kb/old/remove.txt"]
    status = {d.source: d.is_active for d in ix.documents.list(dataset="docs")}
    assert status == {
        f"s3://{b}/kb/keep.txt": True,
        f"s3://{b}/kb/old/remove.txt": False,
        f"s3://{b}/kb-archive/other.txt": True,
    }
    hits = ix.search("volcanic soil grapes", dataset="docs", k=5)
    assert all(not h.document.source.endswith("remove.txt") for h in hits)
    # and a prefix that lists nothing (every object gone, or a typo) deactivates nothing
    s3.delete_object(Bucket=b, Key="kb/keep.txt")
    empty = ix.ingest([f"s3://{b}/kb/"], dataset="docs", sync=True)
    assert empty.deactivated == [] and "no objects under this prefix" in str(empty.failed[0].error)
    assert {d.source: d.is_active for d in ix.documents.list(dataset="docs")}[f"s3://{b}/kb/keep.txt"]


def test_a_scheme_whose_package_is_missing_names_the_extra(ix: Indexflow) -> None:
    # adlfs is in no extra the tests install: az:// is the honest "not installed" case
    assert importlib.util.find_spec("adlfs") is None, "adlfs is installed: pick another absent backend"
    report = ix.ingest(["az://container/reports/"], dataset="docs")
    [failed] = report.failed
    assert "az:// needs the azure extra: pip install 'indexflow[azure]'" in str(failed.error)


def test_an_unreachable_endpoint_is_a_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import s3fs

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # nothing listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        with pytest.raises(TransientError):
            list_uri("s3://no-such-endpoint/prefix/")
    finally:
        s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A static file server on 127.0.0.1 (Python's own): its base URL, its folder, the GETs it served."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path / "www"
    root.mkdir()
    gets: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            gets.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root, gets
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_url_is_one_document_skipped_unread_while_it_looks_the_same(
    web: tuple[str, Path, list[str]], ix: Indexflow
) -> None:
    base, root, gets = web
    page = root / "heron.txt"
    page.write_text("Herons stand still in shallow water.\n")
    stamp = time.time() - 120
    os.utime(page, (stamp, stamp))
    first = ix.ingest([f"{base}/heron.txt"], dataset="web")
    assert [(d.source, d.outcome, d.status) for d in first.documents] == [
        (f"{base}/heron.txt", "new", "EMBEDDED")
    ]
    assert gets == ["/heron.txt"]
    # unchanged (same size and Last-Modified): not downloaded again
    again = ix.ingest([f"{base}/heron.txt"], dataset="web")
    assert [d.outcome for d in again.documents] == ["unchanged"] and gets == ["/heron.txt"]
    # changed: downloaded, a new version
    page.write_text("Herons strike fast at fish in shallow water.\n")
    os.utime(page, (stamp + 60, stamp + 60))
    changed = ix.ingest([f"{base}/heron.txt"], dataset="web")
    assert [d.outcome for d in changed.documents] == ["changed"] and gets == ["/heron.txt", "/heron.txt"]
