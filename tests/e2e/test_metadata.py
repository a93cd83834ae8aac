"""Document metadata as users reach it: ``--meta``, ``NAME.meta.json`` sidecars, what parsers find,
``search --where`` and hits that carry metadata; the same from the library and over HTTP. Real
model, embedded default (SQLite + Qdrant Edge)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from tests.conftest import FIXTURES
from tests.e2e.test_lifecycle_cli import fails, js, run
from tests.texts import BEES, TRAINS

if TYPE_CHECKING:
    from indexflow.service import Indexflow
    from indexflow.settings import Settings

pytestmark = pytest.mark.e2e


def _folder(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "bees.md").write_text("---\ntitle: Bees\ntags: [insects, farming]\n---\n# Bees\n\n" + BEES)
    (root / "trains.txt").write_text(TRAINS)
    (root / "trains.txt.meta.json").write_text(json.dumps({"team": "rail", "review": {"score": 4.5}}))
    return root


def _sources(hits: list[dict]) -> set[str]:
    return {Path(h["document"]["source"]).name for h in hits}


def test_meta_sidecars_and_where_from_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    docs = _folder(tmp_path / "docs")
    report = js(home, "ingest", str(docs), "-d", "d", "--meta", "team=farm", "--meta", "year=2024")
    # the sidecar is the trains file's metadata, not a document of its own
    assert sorted(Path(d["source"]).name for d in report["documents"]) == ["bees.md", "trains.txt"]

    every = js(home, "search", "how do things work", "-d", "d", "--max-per-document", "0")
    meta = {Path(h["document"]["source"]).name: h["document"]["metadata"] for h in every}
    assert meta["bees.md"]["team"] == "farm" and meta["bees.md"]["year"] == 2024
    assert meta["bees.md"]["tags"] == ["insects", "farming"] and meta["bees.md"]["format"] == "markdown"
    assert meta["trains.txt"]["team"] == "rail"  # the sidecar wins over --meta for its file
    assert meta["trains.txt"]["review.score"] == 4.5

    assert _sources(js(home, "search", "steam", "-d", "d", "--where", "team=rail")) == {"trains.txt"}
    assert _sources(js(home, "search", "steam", "-d", "d", "--where", "tags in (farming, x)")) == {"bees.md"}
    both = js(home, "search", "steam", "-d", "d", "--where", "year>=2024", "--where", "year<2025")
    assert _sources(both) == {"bees.md", "trains.txt"}
    assert js(home, "search", "steam", "-d", "d", "--where", "review.score>4.6") == []
    assert _sources(js(home, "search", "steam", "-d", "d", "--where", "review.score>=4.5")) == {"trains.txt"}

    error = fails(home, "search", "steam", "-d", "d", "--where", "colour=red")
    assert "unknown metadata field 'colour'" in error and "team" in error
    assert "is a keyword" in fails(home, "search", "steam", "-d", "d", "--where", "team>=a")
    assert "use key=value" in fails(home, "ingest", str(docs), "-d", "d", "--meta", "oops")
    human = run(home, "search", "steam locomotive", "-d", "d", "-k", "1").stdout
    assert "team=rail" in human


def test_new_metadata_is_a_new_version_and_a_conflicting_kind_fails_only_its_document(
    ix: Indexflow, tmp_path: Path
) -> None:
    docs = _folder(tmp_path / "docs")
    first = ix.ingest([str(docs)], dataset="d", metadata={"year": 2023}, timeout=300)
    assert first.ok
    again = ix.ingest([str(docs)], dataset="d", metadata={"year": 2023}, timeout=300)
    assert {d.outcome for d in again.documents} == {"unchanged"}

    changed = ix.ingest([str(docs / "bees.md")], dataset="d", metadata={"year": 2025}, timeout=300)
    assert changed.ok and changed.documents[0].outcome == "changed"
    bees_id = changed.documents[0].document_id
    assert bees_id is not None and ix.documents.get(bees_id).metadata["year"] == 2025  # the serving version's
    listed = {Path(d.source).name: d.metadata for d in ix.documents.list(dataset="d")}
    assert listed["bees.md"]["tags"] == ["insects", "farming"] and listed["trains.txt"]["year"] == 2023
    assert {h.document.source for h in ix.search("bees", dataset="d", where={"year": 2025})} == {
        str(docs / "bees.md")
    }
    assert all(
        "bees.md" not in h.document.source
        for h in ix.search("bees", dataset="d", where={"year": {"lt": 2024}})
    )

    # "year" is a number in this dataset: a document giving it a word fails alone, readably
    (docs / "odd.txt").write_text("An odd little note about nothing in particular.")
    (docs / "odd.txt.meta.json").write_text(json.dumps({"year": "twenty"}))
    mixed = ix.ingest([str(docs)], dataset="d", metadata={"year": 2025}, timeout=300)
    failed = {Path(d.source).name: d.error for d in mixed.failed}
    assert list(failed) == ["odd.txt"] and "'year' is a number in this dataset" in str(failed["odd.txt"])
    assert {Path(d.source).name for d in mixed.documents if d.status == "EMBEDDED"} == {
        "bees.md",
        "trains.txt",
    }

    (docs / "odd.txt.meta.json").write_text("{not json")
    broken = ix.ingest([str(docs / "odd.txt")], dataset="d", timeout=300)
    assert "not a readable JSON metadata sidecar" in str(broken.failed[0].error)


def test_what_parsers_find_is_filterable(ix: Indexflow, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("tomato_guide.pdf", "sourdough.docx", "git_guide.md"):
        shutil.copy(FIXTURES / name, docs / name)
    (docs / "page.html").write_text(
        '<html><head><title>Harbour notes</title><meta name="author" content="Ana Reis">'
        '<meta property="article:published_time" content="2024-03-01T10:00:00Z"></head>'
        "<body><main><p>The harbour opens at dawn and the ferries leave hourly.</p></main></body></html>"
    )
    assert ix.ingest([str(docs)], dataset="p", timeout=300).ok
    hits = ix.search("guide", dataset="p", max_per_document=0, k=50)
    meta = {Path(h.document.source).name: h.document.metadata for h in hits}
    assert meta["tomato_guide.pdf"]["pages"] == 3 and meta["tomato_guide.pdf"]["format"] == "pdf"
    assert meta["sourdough.docx"]["created"].startswith("2013-12-23")
    assert meta["page.html"]["author"] == "Ana Reis"

    def found(where: dict) -> set[str]:
        return {Path(h.document.source).name for h in ix.search("guide", dataset="p", where=where, k=50)}

    assert found({"created": {"lt": "2010-01-01"}}) == {"tomato_guide.pdf"}
    assert found({"published": {"gte": "2024-01-01", "lt": "2024-04-01"}}) == {"page.html"}
    assert found({"format": ["pdf", "docx"]}) == {"tomato_guide.pdf", "sourdough.docx"}
    assert found({"pages": {"gte": 2}}) == {"tomato_guide.pdf"}
    assert found({"author": "Indexflow sample corpus"}) == {
        "tomato_guide.pdf",
        "sourdough.docx",
        "git_guide.md",
    }


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from indexflow.api.app import create_app

    with TestClient(
        create_app(settings.model_copy(update={"hit_context_chars": 300})), raise_server_exceptions=False
    ) as c:
        yield c


def test_metadata_where_and_bounded_hits_over_http(client: TestClient, tmp_path: Path) -> None:
    ix = client.app.state.ix  # type: ignore[attr-defined]
    long_section = "# Bees\n\n" + "\n\n".join(f"Note {i}. {BEES}" for i in range(12))
    reply = client.post(
        "/v1/datasets/h/documents",
        files={"file": ("bees.md", long_section.encode())},
        data={"metadata": json.dumps({"team": "farm", "year": 2024})},
    )
    assert reply.status_code == 202, reply.text
    other = client.post(
        "/v1/datasets/h/documents",
        files={"file": ("trains.txt", TRAINS.encode())},
        data={"metadata": json.dumps({"team": "rail", "year": 2020})},
    )
    assert other.status_code == 202
    ix.wait(reply.json()["plan_ids"] + other.json()["plan_ids"], timeout=300)

    body = {"query": "how do bees make honey", "dataset": "h", "k": 5, "max_per_document": 0}
    hits = client.post("/v1/search", json={**body, "where": {"team": "farm"}}).json()["hits"]
    assert hits and all(h["document"]["metadata"]["team"] == "farm" for h in hits)
    assert (
        client.post("/v1/search", json={**body, "where": {"year": {"lt": 2021}}}).json()["hits"][0][
            "document"
        ]["metadata"]["team"]
        == "rail"
    )
    # the hit's bundle is a window of at most hit_context_chars around the chunk …
    top = hits[0]
    assert top["bundle"]["truncated"] is True and len(top["bundle"]["text"]) <= 300
    assert top["text"][:40] in top["bundle"]["text"] or len(top["text"]) > 300
    # … and the whole bundle on request
    full = client.post("/v1/search", json={**body, "where": {"team": "farm"}, "full_bundle": True}).json()[
        "hits"
    ]
    assert full[0]["bundle"]["truncated"] is False and len(full[0]["bundle"]["text"]) > 300
    start = top["bundle"]["text_start"]
    same = next(h for h in full if h["chunk"]["id"] == top["chunk"]["id"])
    assert same["bundle"]["text"][start : start + len(top["bundle"]["text"])] == top["bundle"]["text"]

    for where, needle in (
        ({"colour": "red"}, "unknown metadata field"),
        ({"year": {"gte": "soon"}}, "is a number"),
        ({"team": {"lt": "m"}}, "is a keyword"),
    ):
        bad = client.post("/v1/search", json={**body, "where": where})
        assert bad.status_code == 422 and needle in bad.json()["error"]["message"], bad.text
    refused = client.post(
        "/v1/datasets/h/documents",
        files={"file": ("x.txt", b"hello there")},
        data={"metadata": json.dumps({"year": "old"})},
    )
    assert refused.status_code == 422 and "is a number in this dataset" in refused.text
    assert (
        client.post(
            "/v1/datasets/h/documents", files={"file": ("x.txt", b"hello")}, data={"metadata": "[1]"}
        ).status_code
        == 422
    )
