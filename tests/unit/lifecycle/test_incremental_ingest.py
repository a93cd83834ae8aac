"""Incremental ingest: unchanged content is a lookup; changed content is swapped in atomically."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import indexflow.parsers.sandbox
from indexflow.settings import Settings
from tests.lifecycle_support import BEES, TRAINS, chunk_rows, ingest_one, points, versions, write_doc


@pytest.fixture
def parse_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every parse the parse stage asks for (it imports the sandbox's entry point at call time)."""
    calls: list[str] = []
    real = indexflow.parsers.sandbox.parse_isolated

    def counting(data: bytes, filename: str | None, **kw: Any) -> Any:
        calls.append(filename or "")
        return real(data, filename, **kw)

    monkeypatch.setattr(indexflow.parsers.sandbox, "parse_isolated", counting)
    return calls


def test_an_unchanged_reingest_makes_zero_encoder_calls_and_parses_nothing(
    ix, docs_dir: Path, encoder_calls: list[int], parse_calls: list[str]
) -> None:
    # given two documents ingested once (which did parse and embed: the counters work)
    bees = write_doc(docs_dir / "bees.txt", BEES, paragraphs=4)
    trains = write_doc(docs_dir / "trains.txt", TRAINS, paragraphs=4)
    first = ix.ingest([str(docs_dir)], dataset="docs", wait=True, timeout=300)
    assert first.ok and len(first.documents) == 2
    assert sum(encoder_calls) > 0 and sorted(parse_calls) == ["bees.txt", "trains.txt"]
    ids = [d.document_id for d in first.documents]
    before_versions = {i: [(v.id, v.content_hash, v.parsed_at) for v in versions(ix, i)] for i in ids}
    plan_ids = [p.plan_id for d in first.documents for p in d.plans]
    before_chunks = {p: [(c.id, c.point_id, c.embedded_at) for c in chunk_rows(ix, p)] for p in plan_ids}
    before_points = points(ix)
    encoder_calls.clear()
    parse_calls.clear()

    # when the same files are ingested again
    again = ix.ingest([str(bees), str(trains)], dataset="docs", wait=True, timeout=300)

    # then it is a lookup: no encoder call, no parse, same versions, plans, chunks and points
    assert encoder_calls == []
    assert parse_calls == []
    assert [d.outcome for d in again.documents] == ["unchanged", "unchanged"]
    assert [d.status for d in again.documents] == ["EMBEDDED", "EMBEDDED"]
    assert [p.plan_id for d in again.documents for p in d.plans] == plan_ids
    assert {i: [(v.id, v.content_hash, v.parsed_at) for v in versions(ix, i)] for i in ids} == before_versions
    assert {
        p: [(c.id, c.point_id, c.embedded_at) for c in chunk_rows(ix, p)] for p in plan_ids
    } == before_chunks
    assert points(ix) == before_points


def test_a_changed_document_becomes_a_new_version_that_replaces_the_old_one(
    ix, docs_dir: Path, encoder_calls: list[int], parse_calls: list[str]
) -> None:
    # given a document about bees, embedded
    path = write_doc(docs_dir / "handbook.txt", BEES, paragraphs=3)
    doc_id, old_plan = ingest_one(ix, path)
    old_points = points(ix, [old_plan])
    assert old_points == len(chunk_rows(ix, old_plan)) > 0
    encoder_calls.clear()
    parse_calls.clear()

    # when the same path now holds text about trains and is ingested again
    write_doc(path, TRAINS, paragraphs=3)
    report = ix.ingest([str(path)], dataset="docs", wait=True, timeout=300)

    # then it is the same document with a second version, parsed and embedded once
    [doc] = report.documents
    assert doc.document_id == doc_id and doc.outcome == "changed" and doc.status == "EMBEDDED"
    [new] = doc.plans
    assert new.plan_id != old_plan and new.is_active
    assert len(versions(ix, doc_id)) == 2
    assert parse_calls == ["handbook.txt"]
    assert sum(encoder_calls) == new.chunk_count
    # the old plan was retired and its vectors deleted; exactly one plan is active
    old = ix.plans.get(old_plan)
    assert not old.is_active and old.status == "READY"
    assert points(ix, [old_plan]) == 0
    assert points(ix, [new.plan_id]) == new.chunk_count
    assert [p.plan_id for p in ix.documents.get(doc_id).plans if p.is_active] == [new.plan_id]
    # and search only knows the new text
    hits = ix.search("honey bees waggle dance", dataset="docs", k=10)
    assert hits and {h.plan_id for h in hits} == {new.plan_id}
    assert all("bee" not in h.text.lower() for h in hits)


def test_returning_to_an_earlier_content_re_embeds_its_kept_chunks_without_parsing(
    ix, docs_dir: Path, encoder_calls: list[int], parse_calls: list[str]
) -> None:
    # given v1 (bees) replaced by v2 (trains)
    path = write_doc(docs_dir / "handbook.txt", BEES, paragraphs=2)
    doc_id, v1_plan = ingest_one(ix, path)
    v1_chunks = [(c.id, c.text) for c in chunk_rows(ix, v1_plan)]
    write_doc(path, TRAINS, paragraphs=2)
    _, v2_plan = ingest_one(ix, path)
    parse_calls.clear()
    encoder_calls.clear()

    # when the file goes back to exactly the v1 bytes
    write_doc(path, BEES, paragraphs=2)
    report = ix.ingest([str(path)], dataset="docs", wait=True, timeout=300)

    # then v1's plan serves again: no new version, no parse, its own chunk rows re-embedded
    [doc] = report.documents
    assert [p.plan_id for p in doc.plans] == [v1_plan] and doc.status == "EMBEDDED"
    assert len(versions(ix, doc_id)) == 2
    assert parse_calls == []
    assert sum(encoder_calls) == len(v1_chunks)
    assert [(c.id, c.text) for c in chunk_rows(ix, v1_plan)] == v1_chunks
    assert ix.plans.get(v1_plan).is_active and not ix.plans.get(v2_plan).is_active
    assert points(ix, [v2_plan]) == 0
    hits = ix.search("steam locomotive boiler", dataset="docs", k=10)
    assert hits and {h.plan_id for h in hits} == {v1_plan}


def test_searching_during_a_swap_always_sees_exactly_one_version(
    make_ix, tmp_path: Path, docs_dir: Path
) -> None:
    # given a document embedded as v1, on an index that embeds in small batches (a long swap)
    settings = Settings(home=tmp_path / "state", lease_seconds=60, embed_batch_size=2)
    with make_ix(settings) as ix:
        path = write_doc(docs_dir / "handbook.txt", BEES, paragraphs=8)
        doc_id, v1_plan = ingest_one(ix, path)

        # when v2 is ingested without waiting, while another thread searches that document
        write_doc(path, TRAINS, paragraphs=40)
        report = ix.ingest([str(path)], dataset="docs", wait=False)
        [v2_plan] = [p.plan_id for p in report.documents[0].plans]
        seen: list[tuple[set[int], str]] = []
        errors: list[BaseException] = []

        def search_until_swapped() -> None:
            deadline = time.monotonic() + 300
            try:
                while time.monotonic() < deadline:
                    status = ix.plans.get(v2_plan).status  # read before: EMBEDDED ⇒ swap committed
                    hits = ix.search("bees or trains", dataset="docs", k=5, document_ids=[doc_id])
                    seen.append(({h.plan_id for h in hits}, status))
                    if sum(1 for plans, _ in seen if plans == {v2_plan}) >= 20:
                        return
            except BaseException as exc:  # noqa: BLE001 - collected, surfaced below
                errors.append(exc)

        searcher = threading.Thread(target=search_until_swapped)
        searcher.start()
        ix.wait([v2_plan], timeout=300)
        searcher.join(timeout=330)

        # then every search saw exactly one version — v1 until the swap, v2 from then on
        assert not errors, errors
        assert not searcher.is_alive()
        assert all(len(plans) == 1 for plans, _ in seen), [p for p, _ in seen if len(p) != 1]
        assert all(plans <= {v1_plan, v2_plan} for plans, _ in seen)
        order = [next(iter(plans)) for plans, _ in seen]
        first_v2 = order.index(v2_plan)
        assert set(order[:first_v2]) == {v1_plan} and set(order[first_v2:]) == {v2_plan}
        # a search that started after the swap committed never saw v1
        assert all(plans == {v2_plan} for plans, status in seen if status == "EMBEDDED")
        # and the searches really overlapped the build: v1 was served while v2 was not done
        assert sum(1 for plans, status in seen if plans == {v1_plan} and status != "EMBEDDED") >= 3
        assert points(ix, [v1_plan]) == 0


def test_a_search_that_read_the_store_before_the_swap_and_the_db_after_still_finds_the_document(
    ix, docs_dir: Path, monkeypatch
) -> None:
    # given v1 embedded, and a store whose search is slow: it reads its points, then stalls
    # until v2 is EMBEDDED and active (v2's points may only be written once that read is done)
    path = write_doc(docs_dir / "handbook.txt", BEES, paragraphs=1)
    doc_id, v1_plan = ingest_one(ix, path)
    real = ix.rt.store
    read_done = threading.Event()
    armed = threading.Event()
    armed.set()

    class StallingStore:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def search(self, *args: Any, **kwargs: Any) -> Any:
            raw = real.search(*args, **kwargs)
            if armed.is_set():
                armed.clear()
                read_done.set()
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not ix.plans.get(v2_plan).is_active:
                    time.sleep(0.02)
            return raw

        def upsert(self, collection: str, pts: Any) -> None:
            if any(p.payload["plan_id"] != v1_plan for p in pts):
                read_done.wait(120)
            real.upsert(collection, pts)

    monkeypatch.setattr(ix.rt, "_store", StallingStore())

    # when v2 is ingested and a search straddles its swap
    write_doc(path, TRAINS, paragraphs=1)
    report = ix.ingest([str(path)], dataset="docs", wait=False)
    [v2_plan] = [p.plan_id for p in report.documents[0].plans]
    hits = ix.search("bees or trains", dataset="docs", k=5, document_ids=[doc_id])

    # then it still returns the document — the new version only, never neither
    assert ix.plans.get(v2_plan).is_active, "the stall did not cover the swap; the test proves nothing"
    assert hits, "search returned neither version of the document during the swap"
    assert {h.plan_id for h in hits} == {v2_plan}


def test_a_version_superseded_before_it_finished_is_cancelled_and_never_serves(
    make_ix, tmp_path: Path, docs_dir: Path, monkeypatch
) -> None:
    # given v1 embedded, on an encoder slow enough that v2 (many small batches) takes a while
    settings = Settings(home=tmp_path / "state", lease_seconds=60, embed_batch_size=2)
    with make_ix(settings) as ix:
        path = write_doc(docs_dir / "handbook.txt", BEES, paragraphs=2)
        doc_id, v1_plan = ingest_one(ix, path)
        real = ix.rt.encoder
        monkeypatch.setattr(ix.rt, "encoder", lambda profile: _Slow(real(profile), 0.05))
        # when v2 is registered and, before it can finish, v3
        write_doc(path, TRAINS, paragraphs=30)
        v2 = ix.ingest([str(path)], dataset="docs", wait=False).documents[0].plans[0].plan_id
        write_doc(path, "Volcanoes erupt when magma rises through the crust. ", paragraphs=2)
        v3 = ix.ingest([str(path)], dataset="docs", wait=False).documents[0].plans[0].plan_id
        ix.wait([v3], timeout=300)
        ix.tasks.join()
        # then v2 failed as superseded, left no vectors, and v3 alone serves
        v2_view = ix.plans.get(v2)
        assert v2_view.status == "FAILED" and "superseded" in (v2_view.last_error or "")
        assert not v2_view.is_active and points(ix, [v2]) == 0
        assert ix.plans.get(v3).is_active and ix.plans.get(v3).status == "EMBEDDED"
        assert points(ix, [v1_plan]) == 0
        hits = ix.search("volcano magma", dataset="docs", k=5, document_ids=[doc_id])
        assert hits and {h.plan_id for h in hits} == {v3}


class _Slow:
    """Delegates to an encoder, sleeping ``delay`` seconds per batch."""

    def __init__(self, inner: Any, delay: float) -> None:
        self._inner, self._delay = inner, delay

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def encode(self, texts: Any) -> Any:
        time.sleep(self._delay)
        return self._inner.encode(texts)
