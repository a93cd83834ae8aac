"""The bundle stage end to end, on the shipped doubles: what it stores is what preview shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from indexflow import Indexflow
from indexflow.db.models import Bundle, Chunk, ChunkPlan, Document
from indexflow.domain.splitter import max_chars
from indexflow.encoders.tokenizer import load_tokenizer
from indexflow.query.preview import preview
from indexflow.settings import Settings
from indexflow.testing import HashEncoder, MemoryStore

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
def doubled(settings: Settings) -> Iterator[tuple[Indexflow, MemoryStore]]:
    store = MemoryStore()
    with Indexflow(settings, store=store, encoder=HashEncoder()) as instance:
        yield instance, store


def test_stored_bundles_and_chunks_equal_the_preview_of_each_document(
    doubled: tuple[Indexflow, MemoryStore], corpus: Path
) -> None:
    ix, store = doubled
    report = ix.ingest([str(corpus)], dataset="docs", wait=True, timeout=300)
    assert report.ok, [(d.source, d.error) for d in report.failed]
    with ix.rt.sessions() as s:
        plans = s.scalars(select(ChunkPlan)).all()
        assert len(plans) == 6
        for plan in plans:
            profile = plan.profile
            doc = s.get(Document, plan.document_id)
            assert doc is not None
            shown = preview(
                (corpus / Path(doc.source).name).read_bytes(),
                Path(doc.source).name,
                tokenizer_name=profile.tokenizer,
                chunk_size=profile.chunk_size,
                chunk_overlap=profile.chunk_overlap,
                target_bundle_tokens=profile.target_bundle_tokens,
                context_template=profile.context_template or "",
                max_tokens=profile.max_tokens,
            )
            bundles = s.scalars(select(Bundle).where(Bundle.plan_id == plan.id).order_by(Bundle.seq)).all()
            chunks = s.scalars(select(Chunk).where(Chunk.plan_id == plan.id).order_by(Chunk.seq)).all()
            assert [(b.seq, b.title, b.text, b.token_count, b.component_ids, b.paths) for b in bundles] == [
                (b["seq"], b["title"], b["text"], b["token_count"], b["component_ids"], b["paths"])
                for b in shown["bundles"]
            ]
            stored = [
                (c.bundle_seq, c.text, c.token_count, c.char_start, c.char_end, c.context) for c in chunks
            ]
            assert stored == [
                (b["seq"], c["text"], c["token_count"], c["char_start"], c["char_end"], c["context"])
                for b in shown["bundles"]
                for c in b["chunks"]
            ]
            assert store.count(profile.collection) >= len(chunks) > 0


def test_the_injected_encoder_embeds_and_searches_with_the_real_tokenizer(
    doubled: tuple[Indexflow, MemoryStore], corpus: Path
) -> None:
    ix, store = doubled
    ix.ingest([str(corpus)], dataset="docs", wait=True, timeout=300)
    hits = ix.search("compost pile greens browns ammonia", dataset="docs", k=3)
    assert hits and hits[0].document.source.endswith("composting.txt")
    hits = ix.search("git commit branch repository", dataset="docs", k=3)
    assert hits and hits[0].document.source.endswith("git_guide.md")
    with ix.rt.sessions() as s:
        plan = s.scalars(select(ChunkPlan)).first()
        assert plan is not None
        profile = plan.profile
        assert isinstance(ix.rt.encoder(profile), HashEncoder)  # every profile gets the double
        assert ix.rt.tokenizer(profile) is load_tokenizer(MINILM)  # chunking keeps the real tokenizer
        collection = profile.collection
    assert store.collections() == [collection]
    assert store.count(collection) == sum(1 for _ in store.iter_points(collection)) > 0


def test_a_big_single_paragraph_text_is_stored_as_bundles_within_the_target(
    doubled: tuple[Indexflow, MemoryStore], tmp_path: Path
) -> None:
    """Issue 13: a multi-megabyte one-paragraph .txt used to become one bundle of ~600 k tokens."""
    from tests.unit.domain.test_splitter import prose

    ix, _ = doubled
    source = tmp_path / "big.txt"
    text = prose(3_000_000) + " Zanzibar marmalade ostrich."
    source.write_text(text, encoding="utf-8")
    report = ix.ingest([str(source)], dataset="big", wait=True, timeout=600)
    assert report.ok, [(d.source, d.error) for d in report.failed]
    with ix.rt.sessions() as s:
        plan = s.scalars(select(ChunkPlan)).one()
        target, size = plan.profile.target_bundle_tokens, plan.profile.chunk_size
        bundles = s.scalars(select(Bundle).where(Bundle.plan_id == plan.id).order_by(Bundle.seq)).all()
        assert len(bundles) >= 3_000_000 // (target * 6)
        assert all(0 < b.token_count <= target and len(b.text) <= max_chars(target) for b in bundles)
        assert all(b.text in text for b in bundles[:20])  # pieces of the paragraph, as written
        chunks = s.scalars(select(Chunk).where(Chunk.plan_id == plan.id).limit(500)).all()
        texts = {b.id: b.text for b in bundles}
        assert all(texts[c.bundle_id][c.char_start : c.char_end] == c.text for c in chunks)
    hits = ix.search("Zanzibar marmalade ostrich", dataset="big", k=5, full_bundle=True)
    assert hits and "Zanzibar marmalade ostrich" in hits[0].text
    for hit in hits:
        assert hit.chunk.token_count <= size and len(hit.text) <= max_chars(size)
        assert len(hit.bundle.text) <= max_chars(target)
        assert (
            hit.bundle.text[
                hit.chunk.char_start - hit.bundle.text_start : hit.chunk.char_end - hit.bundle.text_start
            ]
            == hit.text
        )
