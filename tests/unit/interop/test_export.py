"""Export: the dataset's searchable chunks, streamed as rows, JSONL and Parquet; the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from indexflow.errors import InvalidRequest, NotFound
from indexflow.manage.export import Export
from tests.lifecycle_support import chunk_rows, collection

if TYPE_CHECKING:
    from indexflow.service import Indexflow


def db_chunks(ix: Indexflow) -> dict[int, tuple[str, int, int]]:
    """chunk id -> (text, char_start, char_end) of every enabled chunk of the dataset's plans."""
    out: dict[int, tuple[str, int, int]] = {}
    for doc in ix.documents.list(dataset="docs"):
        for plan in doc.plans:
            for c in chunk_rows(ix, plan.plan_id):
                if c.enabled:
                    out[c.id] = (c.text, c.char_start, c.char_end)
    return out


def test_jsonl_holds_exactly_the_active_chunks_of_the_database(corpus: Indexflow) -> None:
    buf = io.StringIO()
    n = corpus.export.write("docs", buf)
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert n == len(lines) > 2
    assert {r["chunk_id"]: (r["text"], r["char_start"], r["char_end"]) for r in lines} == db_chunks(corpus)
    docs = {d.document_id: d for d in corpus.documents.list(dataset="docs")}
    for r in lines:
        doc = docs[r["document_id"]]
        named = (r["source"], r["title"], r["dataset"], r["profile"])
        assert named == (doc.source, doc.title, "docs", "default")
        assert isinstance(r["bundle_title"], str) and isinstance(r["bundle_paths"], list)
        assert r["vector"] is None
    # document, plan, chunk order
    order = [(r["document_id"], r["seq"]) for r in lines]
    assert order == sorted(order)


def test_disabled_chunks_and_inactive_documents_are_left_out(corpus: Indexflow) -> None:
    rows = list(corpus.export("docs"))
    corpus.chunks.disable(rows[0].chunk_id)
    after = list(corpus.export("docs"))
    assert [r.chunk_id for r in after] == [r.chunk_id for r in rows[1:]]
    corpus.documents.deactivate(rows[-1].document_id)
    assert {r.document_id for r in corpus.export("docs")} == {rows[0].document_id}


def test_vectors_come_from_the_store_when_it_can_read_them(corpus: Indexflow) -> None:
    assert corpus.export.vectors_readable  # MemoryStore has get_vectors
    rows = list(corpus.export("docs", vectors=True))
    name = collection(corpus)
    stored = corpus.rt.store.get_vectors(name, [r.point_id for r in rows])  # type: ignore[attr-defined]
    assert all(r.vector is not None and r.vector == pytest.approx(stored[r.point_id]) for r in rows)
    assert len(rows[0].vector or []) == corpus.profiles.get("default").dimension


def test_parquet_is_readable_and_equals_the_jsonl(corpus: Indexflow, tmp_path: Path) -> None:
    buf = io.StringIO()
    corpus.export.write("docs", buf, vectors=True)
    expected = [json.loads(line) for line in buf.getvalue().splitlines()]
    n = corpus.export.write("docs", tmp_path / "out.parquet", fmt="parquet", vectors=True)
    table = pq.read_table(tmp_path / "out.parquet")
    assert n == table.num_rows == len(expected)
    got: list[dict[str, Any]] = table.to_pylist()
    for r in got:  # a JSON column: metadata keys and kinds differ from document to document
        r["metadata"] = json.loads(r["metadata"])
    assert got[0]["metadata"]["format"] == "markdown"
    assert [{k: v for k, v in r.items() if k != "vector"} for r in got] == [
        {k: v for k, v in r.items() if k != "vector"} for r in expected
    ]
    assert got[0]["vector"] == pytest.approx(expected[0]["vector"], rel=1e-6)
    corpus.export.write("docs", tmp_path / "plain.parquet", fmt="parquet")
    assert "vector" not in pq.read_table(tmp_path / "plain.parquet").column_names


def test_errors(corpus: Indexflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotFound):
        list(corpus.export("nowhere"))
    with pytest.raises(NotFound):
        list(corpus.export("docs", profile="nope"))
    with pytest.raises(InvalidRequest, match="format"):
        corpus.export.write("docs", io.StringIO(), fmt="csv")
    with pytest.raises(InvalidRequest, match="path"):
        corpus.export.write("docs", io.StringIO(), fmt="parquet")
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(InvalidRequest, match=r"indexflow\[parquet\]"):
        corpus.export.write("docs", tmp_path / "x.parquet", fmt="parquet")


def test_the_cli_writes_jsonl_and_says_when_vectors_are_not_readable(
    corpus: Indexflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexflow.cli.main import app

    monkeypatch.setattr("indexflow.service.Indexflow", lambda: corpus)
    runner = CliRunner()
    out = tmp_path / "docs.jsonl"
    res = runner.invoke(app, ["export", "docs", "--out", str(out), "--vectors"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["chunk_id"] for r in rows} == set(db_chunks(corpus))
    assert all(r["vector"] for r in rows)
    said = " ".join(res.output.split())  # rich wraps long lines
    assert f"{len(rows)} chunks of dataset docs written to {out} with vectors" in said

    monkeypatch.setattr(Export, "vectors_readable", property(lambda self: False))
    res = runner.invoke(app, ["export", "docs", "--vectors"])
    assert res.exit_code == 0, res.output
    assert "cannot hand stored vectors back" in " ".join(res.output.split())
    printed = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(printed) == len(rows) and all(r["vector"] is None for r in printed)

    res = runner.invoke(app, ["export", "docs", "--format", "parquet"])
    assert res.exit_code == 2 and "--out" in res.output
    res = runner.invoke(app, ["export", "nowhere"])
    assert res.exit_code == 1 and "nowhere" in res.output
