"""The CLI end to end, as a user runs it: a real subprocess on the embedded default."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"INDEXFLOW_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "indexflow.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"indexflow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def test_ingest_a_mixed_corpus_then_find_a_passage_by_paraphrase(tmp_path: Path, corpus: Path) -> None:
    home = tmp_path / "home"
    out = run(home, "ingest", str(corpus), "--dataset", "docs", "--json")
    report = json.loads(out.stdout)
    assert report["counts"] == {"EMBEDDED": 6}
    # a paraphrase: the tomato guide says irregular watering causes split fruit and blossom end rot
    hits = json.loads(
        run(home, "search", "why do tomato fruits crack open?", "-d", "docs", "-k", "3", "--json").stdout
    )
    assert hits and hits[0]["document"]["source"].endswith("tomato_guide.pdf")
    top = hits[0]
    for key in ("score", "text"):
        assert key in top
    assert {"source", "title"} <= set(top["document"])
    assert "title" in top["bundle"]
    assert (
        top["bundle"]["text"][
            top["chunk"]["char_start"] - top["bundle"]["text_start"] : top["chunk"]["char_end"]
            - top["bundle"]["text_start"]
        ]
        == top["text"]
    )
    status = json.loads(run(home, "status", "-d", "docs", "--json").stdout)
    assert len(status) == 6 and all(d["status"] == "EMBEDDED" for d in status)


def test_ingest_exits_non_zero_and_names_the_failed_document(
    tmp_path: Path, corpus: Path, fixtures_dir: Path
) -> None:
    home = tmp_path / "home"
    shutil.copy(fixtures_dir / "truncated.pdf", corpus / "broken.pdf")
    proc = run(home, "ingest", str(corpus), check=False)
    assert proc.returncode == 1
    assert "broken.pdf" in proc.stderr and "FAILED" in proc.stderr
    status = json.loads(run(home, "status", "--json").stdout)
    broken = [d for d in status if d["source"].endswith("broken.pdf")]
    assert broken[0]["status"] == "FAILED" and broken[0]["error"]
    assert sum(d["status"] == "EMBEDDED" for d in status) == 6


def test_preview_json_shows_components_bundles_and_exact_chunks(tmp_path: Path, fixtures_dir: Path) -> None:
    out = run(
        tmp_path,
        "preview",
        str(fixtures_dir / "git_guide.md"),
        "--chunk-size",
        "64",
        "--chunk-overlap",
        "8",
        "--target-bundle-tokens",
        "128",
        "--json",
    )
    data = json.loads(out.stdout)
    comps = data["components"]
    assert comps and {"id", "parent_id", "kind", "path", "token_count"} <= set(comps[0])
    ids = {c["id"] for c in comps}
    covered = [cid for b in data["bundles"] for cid in b["component_ids"]]
    assert set(covered) <= ids
    for b in data["bundles"]:
        assert {"seq", "title", "component_ids", "paths", "token_count", "text", "chunks"} <= set(b)
        for ch in b["chunks"]:
            assert b["text"][ch["char_start"] : ch["char_end"]] == ch["text"]
            assert ch["token_count"] <= 64
    # nothing was stored
    assert not (tmp_path / "indexflow.db").exists()


def test_preview_of_an_unreadable_file_is_a_clear_error(tmp_path: Path, fixtures_dir: Path) -> None:
    proc = run(tmp_path, "preview", str(fixtures_dir / "random.bin"), check=False)
    assert proc.returncode == 1
    assert "error" in proc.stderr.lower() and "Traceback" not in proc.stderr


def test_a_second_process_on_a_home_that_indexflow_serve_holds_refuses_before_changing_anything(
    tmp_path: Path, corpus: Path
) -> None:
    import socket
    import time
    import urllib.request

    home = tmp_path / "state"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # given `indexflow serve` running on a home
    server = subprocess.Popen(
        [sys.executable, "-m", "indexflow.cli.main", "serve", "--port", str(port)],
        env=os.environ | {"INDEXFLOW_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    health = json.loads(resp.read())
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "serve did not come up"
                time.sleep(0.5)
        assert health["workers"]["indexing-plan"] >= 1  # the in-process worker heartbeats too

        # when `indexflow ingest` is run on the same home
        proc = run(home, "ingest", str(corpus / "composting.txt"), "--dataset", "d", check=False)

        # then it refuses, naming the process that holds the home and what to do instead
        assert proc.returncode != 0
        assert f"pid {server.pid}" in proc.stderr and "HTTP API" in proc.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/documents", timeout=10) as resp:
            listed = json.loads(resp.read())
    finally:
        server.terminate()
        server.wait(timeout=60)
    # and nothing was registered in the server's database
    assert listed == {"documents": []}
