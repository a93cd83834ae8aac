"""Retrieval options end to end: results spread across documents, grouped by document, BM25
and hybrid modes, contextual headers, evaluation and the default-profile gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from indexflow.db.models import Bundle
from indexflow.errors import InvalidRequest, NotFound
from indexflow.settings import Settings
from tests.lifecycle_support import BEES, TRAINS, chunk_rows, ingest_one, write_doc
from tests.texts import BEE_QUERY

if TYPE_CHECKING:
    from indexflow.service import Indexflow

# A long page about bees (many chunks) next to short ones: without a cap, bees fill the top k.
BEE_PARAGRAPHS = 12
GLOSSARY = (
    "Glossary of the archive.\n\nCatalogue code ZX-4471 marks the ledger shelf in the storeroom registry."
)


def _corpus(docs_dir: Path) -> Path:
    write_doc(docs_dir / "bees.md", BEES, paragraphs=BEE_PARAGRAPHS)
    write_doc(docs_dir / "trains.md", TRAINS, paragraphs=2)
    (docs_dir / "glossary.md").write_text(GLOSSARY)
    return docs_dir


def _ingest(ix: Indexflow, folder: Path, profiles: list[str] | None = None) -> None:
    report = ix.ingest([str(folder)], dataset="docs", profiles=profiles, timeout=300)
    assert report.ok, report


def test_max_per_document_spreads_hits_and_zero_lifts_the_cap(ix, docs_dir: Path) -> None:
    _ingest(ix, _corpus(docs_dir))
    uncapped = ix.search(BEE_QUERY, dataset="docs", k=6, max_per_document=0)
    assert len(uncapped) == 6
    assert sum(h.document.source.endswith("bees.md") for h in uncapped) >= 4  # one page crowds the top

    one = ix.search(BEE_QUERY, dataset="docs", k=6, max_per_document=1)
    sources = [h.document.source for h in one]
    assert len(sources) == len(set(sources)) == 3  # only three documents exist
    # each document's best chunk, in the order of the uncapped ranking (read deep enough)
    everything = ix.search(BEE_QUERY, dataset="docs", k=100, max_per_document=0)
    best: dict[int, int] = {}
    for h in everything:
        best.setdefault(h.document.id, h.chunk.id)
    assert [h.chunk.id for h in one] == list(best.values())
    two = ix.search(BEE_QUERY, dataset="docs", k=6, max_per_document=2)
    assert max(sum(h.document.id == d for h in two) for d in {h.document.id for h in two}) == 2
    # the capped list keeps the uncapped order (scores never increase down the list)
    assert [h.score for h in one] == sorted((h.score for h in one), reverse=True)
    with pytest.raises(InvalidRequest, match="max_per_document"):
        ix.search(BEE_QUERY, dataset="docs", max_per_document=-1)


def test_the_max_per_document_setting_is_the_default(settings: Settings, make_ix, docs_dir: Path) -> None:
    with make_ix(settings.model_copy(update={"max_per_document": 1})) as ix:
        _ingest(ix, _corpus(docs_dir))
        hits = ix.search(BEE_QUERY, dataset="docs", k=5)
        assert len({h.document.id for h in hits}) == len(hits) == 3


def test_group_by_document_ranks_documents_by_their_best_chunk_with_evidence(ix, docs_dir: Path) -> None:
    _ingest(ix, _corpus(docs_dir))
    groups = ix.search(BEE_QUERY, dataset="docs", k=2, group_by="document", max_per_document=3)
    assert len(groups) == 2
    assert groups[0].document.source.endswith("bees.md")
    assert groups[0].score >= groups[1].score
    assert 1 <= len(groups[0].hits) <= 3
    assert groups[0].hits[0].score == groups[0].score  # the document's score is its best chunk's
    assert all(h.document.id == groups[0].document.id for h in groups[0].hits)
    with pytest.raises(InvalidRequest, match="group_by"):
        ix.search(BEE_QUERY, dataset="docs", group_by="section")


def test_sparse_and_hybrid_need_a_lexical_profile_and_find_exact_identifiers(ix, docs_dir: Path) -> None:
    ix.profiles.create("dense", lexical=False)
    _ingest(ix, _corpus(docs_dir), profiles=["default", "dense"])
    with pytest.raises(InvalidRequest, match="lexical"):
        ix.search("ZX-4471", dataset="docs", profile="dense", mode="sparse")
    with pytest.raises(InvalidRequest, match="mode"):
        ix.search("ZX-4471", dataset="docs", mode="fuzzy")
    assert ix.profiles.get("default").lexical and not ix.profiles.get("dense").lexical

    sparse = ix.search("ZX-4471", dataset="docs", mode="sparse", max_per_document=0)
    assert sparse and sparse[0].document.source.endswith("glossary.md")
    assert all("4471" in h.text or "zx" in h.text.lower() for h in sparse)  # BM25 only matches terms
    hybrid = ix.search("ZX-4471", dataset="docs")  # the default profile's default mode: hybrid
    assert hybrid[0].document.source.endswith("glossary.md")
    dense = ix.search(BEE_QUERY, dataset="docs", mode="dense")
    assert dense[0].document.source.endswith("bees.md")
    # hybrid scores are reciprocal-rank-fusion scores: at most 2 / (60 + 1)
    assert 0 < hybrid[0].score <= 2 / 61 + 1e-9


def test_contextual_headers_are_embedded_but_chunk_text_and_spans_stay(ix, docs_dir: Path) -> None:
    page = docs_dir / "guide.md"
    page.write_text(
        "# Installing\n\nGet it first.\n\n## On Linux\n\n" + ("Run the installer and follow it. " * 60)
    )
    ix.profiles.create("ctx", context_template="{title}\n{section}", chunk_size=200)
    ix.profiles.create("plain", context_template="", chunk_size=200)
    report = ix.ingest([str(page)], dataset="docs", profiles=["plain", "ctx"], timeout=300)
    assert report.ok, report
    by_profile = {p.profile: p.plan_id for p in report.documents[0].plans}
    plain, ctx = chunk_rows(ix, by_profile["plain"]), chunk_rows(ix, by_profile["ctx"])
    assert plain and all(c.context is None for c in plain)
    # each chunk: the title, then the section path it starts in (the title not repeated)
    contexts = [c.context for c in ctx]
    assert contexts[0] == "Installing", contexts
    assert contexts[-1] == "Installing\nOn Linux", contexts
    with ix.rt.sessions() as s:
        bundle_text = {
            b.id: b.text for b in s.scalars(select(Bundle).where(Bundle.plan_id == by_profile["ctx"]))
        }
    for c in ctx:
        assert bundle_text[c.bundle_id][c.char_start : c.char_end] == c.text  # spans unchanged
    # the header is what made the chunk findable by its section's name
    hits = ix.search("On Linux", dataset="docs", profile="ctx", k=1, mode="dense")
    assert hits and hits[0].plan_id == by_profile["ctx"]


def test_header_and_chunk_together_fit_the_model(ix, docs_dir: Path) -> None:
    from indexflow.encoders.tokenizer import count_tokens, load_tokenizer

    long_heading = " ".join(f"word{i}" for i in range(40))
    page = docs_dir / "long.md"
    page.write_text(f"# {long_heading}\n\n" + ("The quick brown fox jumps over it. " * 200))
    ix.profiles.create("ctx", context_template="{title} — {section}", chunk_size=254, chunk_overlap=32)
    report = ix.ingest([str(page)], dataset="docs", profiles=["ctx"], timeout=300)
    assert report.ok, report
    [plan] = report.documents[0].plans
    rows = chunk_rows(ix, plan.plan_id)
    assert len(rows) > 3 and all(c.context for c in rows)  # every chunk carries its header
    tokenizer = load_tokenizer(ix.profiles.get("ctx").tokenizer)
    counts = count_tokens([f"{c.context}\n{c.text}" for c in rows], tokenizer)
    assert max(counts) <= 254, max(counts)  # 256 less [CLS] and [SEP]
    assert max(c.token_count for c in rows) < 254  # the chunks made room for the header


def test_a_context_template_naming_anything_else_is_refused(ix) -> None:
    with pytest.raises(InvalidRequest, match="context_template"):
        ix.profiles.create("bad", context_template="{title} {author}")
    with pytest.raises(InvalidRequest, match="context_template"):
        ix.profiles.create("bad2", context_template="{title")
    ix.profiles.create("fine", context_template="{title}: {section} ({source})")


def test_evaluate_scores_each_profile_and_lists_the_misses(ix, docs_dir: Path, tmp_path: Path) -> None:
    _ingest(ix, _corpus(docs_dir))
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"id": "bees", "query": BEE_QUERY, "relevant": ["bees.md"]},
                {"id": "trains", "query": "steam locomotives and railway signals", "relevant": ["trains.md"]},
                {"id": "wrong", "query": BEE_QUERY, "relevant": ["trains.md"]},
            ]
        )
    )
    ix.profiles.clone("default", "small", chunk_size=32, chunk_overlap=4)
    ix.wait(ix.profiles.activate("small").plan_ids, timeout=300)
    report = ix.evaluate(queries, dataset="docs", profiles=["default", "small"], k=1)
    assert [p.profile for p in report.profiles] == ["default", "small"]
    assert report.queries == 3 and report.k == 1
    for row in report.profiles:
        assert set(row.metrics) == {"hit@1", "mrr@1", "ndcg@1", "recall@1"}
        assert row.metrics["hit@1"] == pytest.approx(2 / 3)
        assert [m.id for m in row.misses] == ["wrong"]
        assert row.misses[0].got and row.misses[0].got[0].endswith("bees.md")
    assert report.table()["default"]["hit@1"] == pytest.approx(2 / 3)
    with pytest.raises(NotFound):
        ix.evaluate(queries, dataset="docs", profiles=["nope"])
    with pytest.raises(NotFound, match="dataset"):  # not silently zero everywhere
        ix.evaluate(queries, dataset="no-such-dataset")


def test_chunk_and_passage_judgments(ix, docs_dir: Path) -> None:
    doc_id, plan_id = ingest_one(ix, write_doc(docs_dir / "bees.md", BEES), dataset="docs")
    first = chunk_rows(ix, plan_id)[0]
    report = ix.evaluate(
        [
            {"query": BEE_QUERY, "relevant": [{"chunk_id": first.id}]},
            {"query": BEE_QUERY, "relevant": [{"passage": "  ".join(first.text.split()[:6])}]},
            {"query": BEE_QUERY, "relevant": [{"chunk_id": 10**9}]},
        ],
        dataset="docs",
        k=5,
    )
    assert report.profiles[0].metrics["hit@5"] == pytest.approx(2 / 3)
    assert doc_id > 0


def test_profiles_default_switches_what_search_uses(ix, docs_dir: Path) -> None:
    _ingest(ix, _corpus(docs_dir))
    ix.profiles.clone("default", "other", chunk_size=64, chunk_overlap=8)
    ix.wait(ix.profiles.activate("other").plan_ids, timeout=300)
    default_plan = ix.search(BEE_QUERY, dataset="docs")[0].plan_id
    result = ix.switch_default("other")
    assert result.switched and result.default == "other" and result.previous == "default"
    assert ix.profiles.default().name == "other"
    assert ix.profiles.get("other").is_default and not ix.profiles.get("default").is_default
    hit = ix.search(BEE_QUERY, dataset="docs")[0]
    assert hit.plan_id != default_plan
    assert {p.plan_id for p in ix.plans.list() if p.profile == "other"} >= {hit.plan_id}
    with pytest.raises(NotFound):
        ix.switch_default("missing")


def test_the_gate_switches_a_candidate_that_is_no_worse(ix, docs_dir: Path, tmp_path: Path) -> None:
    _ingest(ix, _corpus(docs_dir))
    gate = [{"query": BEE_QUERY, "relevant": ["bees.md"]}, {"query": "railway", "relevant": ["trains.md"]}]
    ix.profiles.clone("default", "twin")  # same parameters, not yet active: the gate builds it
    result = ix.switch_default("twin", gate=gate, margin=0.0, dataset="docs", timeout=300)
    assert result.switched and result.default == "twin" and result.worse == []
    assert result.candidate_metrics == result.previous_metrics
    assert all(p.status == "EMBEDDED" for p in ix.plans.list() if p.profile == "twin")
    assert ix.profiles.default().name == "twin"


def test_the_gate_keeps_the_default_when_the_candidate_is_worse(ix, docs_dir: Path) -> None:
    _ingest(ix, _corpus(docs_dir))
    # judged by the default profile's own chunks: another profile's chunks cannot match them
    hits = ix.search(BEE_QUERY, dataset="docs", k=1)
    gate = [{"query": BEE_QUERY, "relevant": [{"chunk_id": hits[0].chunk.id}]}]
    ix.profiles.clone("default", "worse", chunk_size=48, chunk_overlap=8)
    result = ix.switch_default("worse", gate=gate, margin=0.01, dataset="docs", timeout=300)
    assert not result.switched and result.default == "default"
    assert result.previous_metrics is not None and result.previous_metrics["hit@10"] == 1.0
    assert result.candidate_metrics["hit@10"] == 0.0
    assert set(result.worse) == {"hit@10", "mrr@10", "ndcg@10"}
    assert ix.profiles.default().name == "default"
    assert ix.search(BEE_QUERY, dataset="docs", k=1)[0].chunk.id == hits[0].chunk.id


def test_retrieval_options_are_immutable_once_used_and_cloned_to_change(ix, docs_dir: Path) -> None:
    from indexflow.errors import ConflictError

    ingest_one(ix, write_doc(docs_dir / "bees.md", BEES), dataset="docs")
    for change in ({"lexical": True}, {"context_template": "{title}"}):
        with pytest.raises(ConflictError, match="clone"):
            ix.profiles.update("default", **change)
    clone = ix.profiles.clone("default", "rich", lexical=True, context_template="{title}\n{section}")
    assert clone.lexical and clone.context_template == "{title}\n{section}"
    plain = ix.profiles.clone("rich", "plain", context_template="")  # "" clones without headers
    assert plain.lexical and plain.context_template is None
