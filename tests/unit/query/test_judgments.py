"""Judgments files: JSONL and BEIR, every relevant-item form, clear errors; source matching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexflow.errors import InvalidRequest
from indexflow.query.evaluate import Judgment, load_queries, source_matches


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    return path


def test_jsonl_with_every_form_of_relevant_item(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "q.jsonl",
        [
            {"id": "a", "query": "pin a dependency", "relevant": ["reference/deps.html"]},
            {"query": "graded", "relevant": [{"source": "x.md", "grade": 2}, {"chunk_id": 7}]},
            {"query": "passage", "relevant": [{"passage": "  The Quick\n brown fox "}]},
            {"query": "mapping", "relevant": {"a.md": 1, "b.md": 0}},
        ],
    )
    a, b, c, d = load_queries(path)
    assert (a.id, a.query, a.relevant) == (
        "a",
        "pin a dependency",
        (Judgment("source", "reference/deps.html"),),
    )
    assert b.id == "2" and b.relevant == (Judgment("source", "x.md", 2.0), Judgment("chunk", "7"))
    assert c.relevant == (Judgment("passage", "the quick brown fox"),)
    assert d.relevant == (Judgment("source", "a.md", 1.0), Judgment("source", "b.md", 0.0))


def test_beir_folder_and_queries_file(tmp_path: Path) -> None:
    _jsonl(
        tmp_path / "queries.jsonl", [{"_id": "q1", "text": "what is x"}, {"_id": "q2", "text": "unjudged"}]
    )
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tdoc7\t1\nq1\tdoc9\t0\n")
    for source in (tmp_path, tmp_path / "queries.jsonl"):
        [q] = load_queries(source)
        assert (q.id, q.query, q.relevant) == ("q1", "what is x", (Judgment("source", "doc7", 1.0),))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 1: not JSON"),
        ("[1, 2]", "line 1: expected a JSON object"),
        ('{"relevant": ["a"]}', "'query' must be a non-empty string"),
        ('{"query": "q"}', "'relevant' must be a list"),
        ('{"query": "q", "relevant": []}', "no relevant item"),
        ('{"query": "q", "relevant": [{"source": "a", "grade": "high"}]}', "grade must be a number"),
        ('{"query": "q", "relevant": [{"chunk_id": "7"}]}', "chunk_id must be an integer"),
        ('{"query": "q", "relevant": [{"url": "a"}]}', "a relevant item is"),
    ],
)
def test_bad_lines_are_refused_naming_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(InvalidRequest, match=message):
        load_queries(path)


def test_missing_files_and_empty_input_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="no judgments file"):
        load_queries(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InvalidRequest, match="no queries"):
        load_queries(tmp_path / "empty.jsonl")
    with pytest.raises(InvalidRequest, match="qrels"):
        load_queries(tmp_path)  # a folder without BEIR's qrels


def test_source_matching() -> None:
    src = "/data/cargo/reference/config.html"
    assert source_matches(src, src)
    assert source_matches(src, "reference/config.html")
    assert source_matches(src, "./reference/config.html")
    assert source_matches(src, "config")  # a BEIR corpus id stored as <id>.html
    assert not source_matches(src, "ence/config.html")  # suffixes match whole path parts
    assert not source_matches(src, "other/config.html")
    assert source_matches("https://example.com/docs/a.md", "docs/a.md")
