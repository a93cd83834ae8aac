"""The VectorStore contract: every adapter must behave the same (see ``stores/base.py``).

``StoreContract`` holds the behaviours; each ``Test*`` subclass supplies one engine through the
``open_store`` fixture (a function that opens a fresh instance on the same storage, so the
persistence test can close and reopen).
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from indexflow.errors import DimensionMismatch, InvalidRequest, NotFound, StoreUnavailable
from indexflow.stores.base import CollectionSpec, SearchFilter, StoreHit, VectorPoint, VectorStore

DIM = 8
OpenStore = Callable[[], VectorStore]
MakeCollection = Callable[..., str]


def pid(n: int) -> str:
    """Deterministic point id, as the pipeline makes them (UUIDv5)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"indexflow-contract/{n}"))


def unit(i: int, dim: int = DIM) -> list[float]:
    v = [0.0] * dim
    v[i % dim] = 1.0
    return v


def point(
    n: int,
    vector: Sequence[float] | None = None,
    *,
    plan: int = 1,
    doc: int = 10,
    ds: int = 100,
    enabled: bool | None = None,
    text: str | None = None,
) -> VectorPoint:
    payload = {"plan_id": plan, "chunk_id": n, "document_id": doc, "dataset_id": ds, "text": f"chunk {n}"}
    if enabled is not None:
        payload["enabled"] = enabled
    vector = vector if vector is not None else unit(n)
    return VectorPoint(id=pid(n), vector=vector, payload=payload, text=text)


def ids(hits: Iterable[StoreHit]) -> set[str]:
    return {h.id for h in hits}


class StoreContract:
    """Behaviours every vector store adapter must show."""

    @pytest.fixture
    def open_store(self) -> OpenStore:
        raise NotImplementedError

    @pytest.fixture
    def store(self, open_store: OpenStore) -> Iterator[VectorStore]:
        s = open_store()
        yield s
        s.close()

    @pytest.fixture
    def make_collection(self, store: VectorStore) -> Iterator[MakeCollection]:
        """Create uniquely named collections; all are dropped at teardown."""
        made: list[str] = []

        def make(dimension: int = DIM, distance: str = "cosine", lexical: bool = False) -> str:
            name = f"ct_{uuid.uuid4().hex[:12]}"
            store.ensure_collection(
                CollectionSpec(name, dimension, distance, hnsw_m=8, hnsw_ef_construct=32, lexical=lexical)
            )
            made.append(name)
            return name

        yield make
        for name in made:
            store.drop_collection(name)

    # -- collections ----------------------------------------------------------------------

    def test_collections_lists_the_indexflow_collections_that_exist(self, store: VectorStore):
        name = f"indexflow_ct{uuid.uuid4().hex[:10]}"
        assert name not in store.collections()
        store.ensure_collection(CollectionSpec(name, DIM, "cosine", hnsw_m=8, hnsw_ef_construct=32))
        try:
            listed = store.collections()
            assert name in listed and all(c.startswith("indexflow_") for c in listed)
        finally:
            store.drop_collection(name)
        assert name not in store.collections()

    def test_ensure_collection_twice_is_a_noop(self, store: VectorStore, make_collection: MakeCollection):
        name = make_collection()
        store.upsert(name, [point(1)])
        store.ensure_collection(CollectionSpec(name, DIM, "cosine", hnsw_m=8, hnsw_ef_construct=32))
        assert store.count(name) == 1

    def test_ensure_collection_with_other_dimension_or_distance_raises(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection()
        with pytest.raises(DimensionMismatch):
            store.ensure_collection(CollectionSpec(name, DIM + 1, "cosine"))
        with pytest.raises(DimensionMismatch):
            store.ensure_collection(CollectionSpec(name, DIM, "euclid"))

    def test_missing_collection_reads_and_deletes_as_empty(self, store: VectorStore):
        name = f"ct_missing_{uuid.uuid4().hex[:8]}"
        assert store.search(name, unit(0), 5) == []
        assert store.count(name) == 0
        assert list(store.iter_points(name)) == []
        store.delete_by_plan(name, 1)
        store.delete_by_document(name, 1)
        store.delete_points(name, [pid(1)])
        store.set_enabled(name, [pid(1)], False)
        store.drop_collection(name)

    def test_upsert_into_missing_collection_raises_not_found(self, store: VectorStore):
        with pytest.raises(NotFound):
            store.upsert(f"ct_missing_{uuid.uuid4().hex[:8]}", [point(1)])

    def test_upsert_with_wrong_dimension_raises_dimension_mismatch(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection()
        with pytest.raises(DimensionMismatch):
            store.upsert(name, [point(1, [1.0, 0.0, 0.0])])

    def test_drop_collection_removes_everything(self, store: VectorStore, make_collection: MakeCollection):
        name = make_collection()
        store.upsert(name, [point(i) for i in range(5)])
        store.drop_collection(name)
        assert store.count(name) == 0
        store.ensure_collection(CollectionSpec(name, DIM + 2))  # a fresh start, any dimension
        assert store.count(name) == 0

    # -- writes ---------------------------------------------------------------------------

    def test_upsert_same_id_overwrites_instead_of_duplicating(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection()
        store.upsert(name, [point(1, unit(0), plan=1)])
        store.upsert(name, [point(1, unit(3), plan=2), point(1, unit(3), plan=2)])
        assert store.count(name) == 1
        [hit] = store.search(name, unit(3), 5)
        assert hit.id == pid(1) and hit.payload["plan_id"] == 2
        assert hit.score == pytest.approx(1.0, abs=1e-4)

    def test_delete_by_plan_removes_only_that_plan(self, store: VectorStore, make_collection: MakeCollection):
        name = make_collection()
        store.upsert(name, [point(i, plan=1 + i % 2) for i in range(10)])
        store.delete_by_plan(name, 1)
        assert store.count(name) == 5
        assert store.count(name, SearchFilter(plan_ids=(1,))) == 0
        assert all(h.payload["plan_id"] == 2 for h in store.search(name, unit(0), 20))

    def test_delete_by_document_removes_only_that_document(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection()
        store.upsert(name, [point(i, doc=10 if i < 4 else 20) for i in range(10)])
        store.delete_by_document(name, 10)
        assert store.count(name) == 6
        assert {h.payload["document_id"] for h in store.search(name, unit(0), 20)} == {20}

    def test_delete_points_by_id_ignores_unknown_ids(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection()
        store.upsert(name, [point(i) for i in range(4)])
        store.delete_points(name, [pid(0), pid(2), pid(99)])
        assert ids(store.search(name, unit(0), 10)) == {pid(1), pid(3)}
        assert store.count(name) == 2

    def test_set_enabled_round_trip(self, store: VectorStore, make_collection: MakeCollection):
        name = make_collection()
        store.upsert(name, [point(i) for i in range(4)])
        store.set_enabled(name, [pid(1), pid(99)], False)
        assert pid(1) not in ids(store.search(name, unit(1), 10, SearchFilter()))
        assert store.count(name, SearchFilter()) == 3
        assert store.count(name, SearchFilter(only_enabled=False)) == 4
        payloads = {h.id: h.payload for h in store.iter_points(name)}
        assert payloads[pid(1)]["enabled"] is False and payloads[pid(1)]["plan_id"] == 1
        store.set_enabled(name, [pid(1)], True)
        assert store.search(name, unit(1), 1, SearchFilter())[0].id == pid(1)
        assert store.count(name, SearchFilter()) == 4

    def test_batch_upsert_of_thousands(self, store: VectorStore, make_collection: MakeCollection):
        name = make_collection(dimension=32)
        vectors = np.random.default_rng(7).standard_normal((3000, 32)).astype(np.float32)
        store.upsert(name, [point(i, vectors[i], plan=i % 3) for i in range(3000)])
        assert store.count(name) == 3000
        assert store.count(name, SearchFilter(plan_ids=(0,))) == 1000
        assert store.search(name, vectors[1234].tolist(), 3)[0].id == pid(1234)
        assert len({h.id for h in store.iter_points(name, batch_size=700)}) == 3000

    # -- reads ----------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            (None, {1, 2, 3, 4, 5}),
            (SearchFilter(), {1, 2, 3, 5}),
            (SearchFilter(dataset_ids=(100,)), {1, 2}),
            (SearchFilter(dataset_ids=(200, 300)), {3, 5}),
            (SearchFilter(document_ids=(20,)), {3}),
            (SearchFilter(document_ids=(20,), only_enabled=False), {3, 4}),
            (SearchFilter(plan_ids=(1, 3)), {1, 3}),
            (SearchFilter(dataset_ids=(100,), plan_ids=(2,)), {2}),
            (SearchFilter(dataset_ids=()), set()),
        ],
        ids=["none", "enabled", "dataset", "datasets", "document", "document-all", "plans", "and", "empty"],
    )
    def test_filters_restrict_search_and_count(
        self,
        store: VectorStore,
        make_collection: MakeCollection,
        flt: SearchFilter | None,
        expected: set[int],
    ):
        name = make_collection()
        store.upsert(
            name,
            [
                point(1, plan=1, doc=10, ds=100),
                point(2, plan=2, doc=10, ds=100),
                point(3, plan=3, doc=20, ds=200),
                point(4, plan=3, doc=20, ds=200, enabled=False),
                point(5, plan=4, doc=30, ds=300, enabled=True),
            ],
        )
        assert ids(store.search(name, unit(0), 10, flt)) == {pid(n) for n in expected}
        assert store.count(name, flt) == len(expected)

    def test_metadata_conditions_match_the_reference_semantics(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        """Every metadata condition, on search (dense and lexical) and count, selects exactly the
        points ``Condition.matches`` selects: keywords, numbers, bools, datetimes, lists."""
        import random

        from indexflow.domain import metadata as md

        rng = random.Random(7)
        teams, tags = ["ops", "dev", "a\"b'c", "é x"], ["red", "blue", "green"]
        known = {
            "team": md.KEYWORD,
            "year": md.NUMBER,
            "draft": md.BOOL,
            "published": md.DATETIME,
            "tags": md.KEYWORD,
            "a.b-c": md.NUMBER,
        }
        name = make_collection(lexical=True)
        metas: dict[str, dict] = {}
        points = []
        for n in range(60):
            raw: dict = {}
            if rng.random() < 0.9:
                raw["team"] = rng.choice(teams)
            if rng.random() < 0.9:
                raw["year"] = rng.choice([2019, 2020, 2021.5, -3, 2024])
            if rng.random() < 0.8:
                raw["draft"] = rng.random() < 0.5
            if rng.random() < 0.8:
                raw["published"] = rng.choice(
                    ["2023-01-01", "2023-06-30T12:00:00Z", "2024-02-29", "2022-12-31T23:59:59+01:00"]
                )
            if rng.random() < 0.7:
                raw["tags"] = rng.sample(tags, rng.randint(0, 2))
            if rng.random() < 0.5:
                raw["a.b-c"] = rng.randint(0, 3)
            meta = md.store_values(md.normalize(raw), known)
            p = point(n, text="alpha beta")
            p.payload["meta"] = meta
            points.append(p)
            metas[p.id] = meta
        store.upsert(name, points)
        wheres: list[dict[str, Any]] = [
            {"team": "ops"},
            {"team": ["dev", "a\"b'c"]},
            {"team": "é x"},
            {"year": 2020},
            {"year": {"gte": 2020}},
            {"year": {"gt": 2020, "lte": 2024}},
            {"year": {"lt": 0}},
            {"year": [2019, 2021.5]},
            {"draft": True},
            {"draft": "false"},
            {"published": {"gte": "2023-06-30"}},
            {"published": {"lt": "2023-01-01T00:00:00Z"}},
            {"published": "2024-02-29"},
            {"tags": "red"},
            {"tags": {"in": ["blue", "green"]}},
            {"team": "ops", "year": {"gte": 2020}, "draft": False},
            {"a.b-c": {"gte": 2}},
            {"team": "nobody"},
        ]
        for where in wheres:
            conditions = md.parse_where(where, known)
            expected = {
                pid_
                for pid_, meta in metas.items()
                if all(c.field in meta and c.matches(meta[c.field]) for c in conditions)
            }
            flt = SearchFilter(metadata=conditions)
            assert ids(store.search(name, unit(0), 100, flt)) == expected, where
            assert ids(store.search_lexical(name, "alpha", 100, flt)) == expected, where
            assert store.count(name, flt) == len(expected), where
        # the reference itself is not vacuous: some filters select some points, others none
        assert store.count(name, SearchFilter(metadata=md.parse_where({"team": "ops"}, known))) > 0
        assert store.count(name, SearchFilter(metadata=md.parse_where({"team": "nobody"}, known))) == 0

    @pytest.mark.parametrize("lexical", [False, True], ids=["dense", "with-lexical"])
    def test_get_vectors_gives_back_the_stored_dense_vectors(
        self, store: VectorStore, make_collection: MakeCollection, lexical: bool
    ):
        name = make_collection(lexical=lexical)
        vectors = {n: [float(n + i) / 10 for i in range(DIM)] for n in range(1, 4)}
        store.upsert(name, [point(n, vectors[n], text="alpha") for n in vectors])
        got = store.get_vectors(name, [pid(1), pid(3), pid(99)])  # type: ignore[attr-defined]
        assert set(got) == {pid(1), pid(3)}
        # a cosine collection may keep the vector normalized (Qdrant does): same direction
        want, have = np.asarray(vectors[3]), np.asarray(got[pid(3)])
        assert have.shape == (DIM,)
        assert have / np.linalg.norm(have) == pytest.approx(want / np.linalg.norm(want), rel=1e-5)
        assert store.get_vectors(name, []) == {}  # type: ignore[attr-defined]
        assert store.get_vectors("ct_missing_collection", [pid(1)]) == {}  # type: ignore[attr-defined]

    def test_points_without_metadata_never_match_a_metadata_filter(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        from indexflow.domain import metadata as md

        name = make_collection()
        store.upsert(name, [point(1), point(2)])
        flt = SearchFilter(metadata=md.parse_where({"year": {"lt": 1e9}}, {"year": md.NUMBER}))
        assert store.search(name, unit(1), 10, flt) == [] and store.count(name, flt) == 0
        assert store.count(name) == 2

    @pytest.mark.parametrize("lexical", [False, True], ids=["dense", "with-lexical"])
    @pytest.mark.parametrize("distance", ["cosine", "dot", "euclid"])
    def test_search_is_best_first_with_similarity_scores(
        self, store: VectorStore, make_collection: MakeCollection, distance: str, lexical: bool
    ):
        # A lexical leg must not change the dense leg: same hits, same scores, some points
        # with text and some without.
        name = make_collection(distance=distance, lexical=lexical)
        vectors = np.random.default_rng(3).standard_normal((40, DIM)).astype(np.float32)
        texts = [f"word{i % 7} shared text" if i % 3 else None for i in range(40)]
        store.upsert(name, [point(i, vectors[i], text=texts[i]) for i in range(40)])
        query = vectors[5] + 0.05
        hits = store.search(name, query.tolist(), 7)
        assert len(hits) == 7
        if distance == "cosine":
            expected = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
        elif distance == "dot":
            expected = vectors @ query
        else:
            expected = -np.linalg.norm(vectors - query, axis=1)
        best = np.argsort(-expected)[:7]
        assert [h.id for h in hits] == [pid(int(i)) for i in best]
        assert [h.score for h in hits] == pytest.approx(expected[best].tolist(), abs=1e-3)
        assert hits[0].payload["chunk_id"] == 5

    def test_search_respects_limit(self, store: VectorStore, make_collection: MakeCollection):
        name = make_collection()
        store.upsert(name, [point(i) for i in range(20)])
        assert len(store.search(name, unit(0), 3)) == 3
        assert len(store.search(name, unit(0), 100)) == 20

    def test_iter_points_yields_every_id_with_payload(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection()
        written = [point(i, plan=7, enabled=i % 5 != 0) for i in range(23)]
        store.upsert(name, written)
        seen = list(store.iter_points(name, batch_size=4))
        assert sorted(h.id for h in seen) == sorted(p.id for p in written)
        assert {h.id: h.payload for h in seen} == {p.id: p.payload for p in written}
        assert all(h.score == 0 for h in seen)

    def test_concurrent_writers_and_readers(self, store: VectorStore, make_collection: MakeCollection):
        name = make_collection()
        errors: list[BaseException] = []

        def guarded(fn: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    fn()
                except BaseException as exc:  # noqa: BLE001 - collected, surfaced by the assert below
                    errors.append(exc)

            return run

        def writer(base: int) -> None:
            for batch in range(8):
                store.upsert(name, [point(base + batch * 25 + i) for i in range(25)])

        def reader() -> None:
            for i in range(40):
                store.search(name, unit(i), 5, SearchFilter())
                store.count(name)

        threads = [threading.Thread(target=guarded(partial(writer, k * 1000))) for k in range(3)]
        threads += [threading.Thread(target=guarded(reader)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert store.count(name) == 600

    # -- the lexical (BM25) leg -----------------------------------------------------------------

    # Whether the adapter scores with the shared analyzer (``stores/lexical.py``) and Qdrant's
    # BM25 IDF, so that its scores can be checked against the formula.
    shared_analyzer = True

    def test_lexical_matching_points_rank_above_the_others(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection(lexical=True)
        store.upsert(
            name,
            [
                point(1, text="the giraffe eats leaves from tall trees"),
                point(2, text="a giraffe and an elephant walk across the savanna"),
                point(3, text="stock markets closed higher on friday"),
                point(4, text="the elephant remembers"),
                point(5, text=None),
                point(6, text="rain is expected over the weekend"),
            ],
        )
        hits = store.search_lexical(name, "giraffe elephant", 10)
        # Only points sharing a term come back; the one with both terms first.
        assert [h.id for h in hits][:1] == [pid(2)]
        assert ids(hits) == {pid(1), pid(2), pid(4)}
        assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
        assert all(h.score > 0 for h in hits)
        assert hits[0].payload["chunk_id"] == 2 and "giraffe" not in str(hits[0].payload)
        # Stemming: "giraffes" finds "giraffe"; no match gives nothing.
        assert ids(store.search_lexical(name, "Giraffes", 10)) == {pid(1), pid(2)}
        assert store.search_lexical(name, "volcano", 10) == []
        # The limit holds.
        assert len(store.search_lexical(name, "giraffe elephant", 2)) == 2
        assert store.search_lexical(name, "giraffe", 0) == []

    def test_lexical_rare_term_outranks_common_term(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection(lexical=True)
        # Equal lengths, one term each from the query: only the IDF tells them apart.
        common = [point(i, text=f"common filler{i}") for i in range(1, 7)]
        store.upsert(name, [*common, point(7, text="rare filler7"), point(8, text="unrelated filler8")])
        hits = store.search_lexical(name, "common rare", 10)
        assert hits[0].id == pid(7)
        assert hits[0].score > hits[1].score
        assert ids(hits) == {pid(i) for i in range(1, 8)}

    def test_lexical_scores_are_bm25_with_idf(self, store: VectorStore, make_collection: MakeCollection):
        from indexflow.stores import lexical

        name = make_collection(lexical=True)
        texts = {
            1: "solar panels convert sunlight into electricity",
            2: "wind turbines convert wind into electricity on windy days",
            3: "electricity prices rose",
            4: "the cat sat on the mat",
            5: "",
        }
        store.upsert(name, [point(n, text=t) for n, t in texts.items()])
        if not self.shared_analyzer:
            # PostgreSQL ranks with its own analyzer: the matching points, the best match first.
            hits = store.search_lexical(name, "electricity from wind", 10)
            assert hits[0].id == pid(2) and ids(hits) == {pid(1), pid(2), pid(3)}
            assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
            return
        terms = {n: dict(zip(*lexical.document_terms(t), strict=True)) for n, t in texts.items()}
        indexed = [t for t in terms.values() if t]  # points without a term are outside the leg
        query = dict(zip(*lexical.query_terms("electricity from wind"), strict=True))
        expected = {}
        for n, doc in terms.items():
            shared = [q for q in query if q in doc]
            if shared:
                expected[pid(n)] = sum(
                    query[q] * lexical.idf(len(indexed), sum(q in t for t in indexed)) * doc[q]
                    for q in shared
                )
        hits = store.search_lexical(name, "electricity from wind", 10)
        assert {h.id: h.score for h in hits} == pytest.approx(expected, rel=1e-4)
        assert hits[0].id == pid(2)

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            (None, {1, 2, 3, 4, 5}),
            (SearchFilter(), {1, 2, 3, 5}),
            (SearchFilter(dataset_ids=(100,)), {1, 2}),
            (SearchFilter(dataset_ids=(200, 300)), {3, 5}),
            (SearchFilter(document_ids=(20,)), {3}),
            (SearchFilter(document_ids=(20,), only_enabled=False), {3, 4}),
            (SearchFilter(plan_ids=(1, 3)), {1, 3}),
            (SearchFilter(dataset_ids=(100,), plan_ids=(2,)), {2}),
            (SearchFilter(dataset_ids=()), set()),
        ],
        ids=["none", "enabled", "dataset", "datasets", "document", "document-all", "plans", "and", "empty"],
    )
    def test_filters_restrict_lexical_search(
        self,
        store: VectorStore,
        make_collection: MakeCollection,
        flt: SearchFilter | None,
        expected: set[int],
    ):
        name = make_collection(lexical=True)
        store.upsert(
            name,
            [
                point(1, plan=1, doc=10, ds=100, text="harbour lighthouse one"),
                point(2, plan=2, doc=10, ds=100, text="harbour lighthouse two"),
                point(3, plan=3, doc=20, ds=200, text="harbour lighthouse three"),
                point(4, plan=3, doc=20, ds=200, enabled=False, text="harbour lighthouse four"),
                point(5, plan=4, doc=30, ds=300, enabled=True, text="harbour lighthouse five"),
                point(6, plan=1, doc=10, ds=100, text="nothing in common"),
            ],
        )
        assert ids(store.search_lexical(name, "lighthouse", 10, flt)) == {pid(n) for n in expected}

    def test_set_enabled_hides_a_point_from_lexical_search(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection(lexical=True)
        store.upsert(name, [point(i, text=f"meadow flower {i}") for i in range(4)])
        store.set_enabled(name, [pid(1)], False)
        assert ids(store.search_lexical(name, "meadow", 10, SearchFilter())) == {pid(0), pid(2), pid(3)}
        assert pid(1) in ids(store.search_lexical(name, "meadow", 10, SearchFilter(only_enabled=False)))
        store.set_enabled(name, [pid(1)], True)
        assert pid(1) in ids(store.search_lexical(name, "meadow", 10, SearchFilter()))

    def test_deletes_remove_points_from_lexical_search(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection(lexical=True)
        store.upsert(
            name,
            [point(i, plan=1 + i % 2, doc=10 + i // 4, text=f"glacier valley {i}") for i in range(12)],
        )
        store.delete_by_plan(name, 1)  # the even ones
        assert ids(store.search_lexical(name, "glacier", 20)) == {pid(i) for i in range(1, 12, 2)}
        store.delete_by_document(name, 10)  # 0..3
        assert ids(store.search_lexical(name, "glacier", 20)) == {pid(i) for i in (5, 7, 9, 11)}
        store.delete_points(name, [pid(5), pid(9), pid(99)])
        assert ids(store.search_lexical(name, "glacier valley", 20)) == {pid(7), pid(11)}
        assert store.count(name) == 2

    def test_overwrite_replaces_the_indexed_text(self, store: VectorStore, make_collection: MakeCollection):
        name = make_collection(lexical=True)
        store.upsert(name, [point(1, text="orchard apples"), point(2, text="orchard pears")])
        store.upsert(name, [point(1, text="vineyard grapes"), point(2, text=None)])
        assert store.search_lexical(name, "apples", 10) == []
        assert ids(store.search_lexical(name, "orchard grapes", 10)) == {pid(1)}
        assert store.count(name) == 2  # a point without text is still there for the dense leg

    def test_lexical_query_without_indexable_terms_gives_nothing(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection(lexical=True)
        store.upsert(name, [point(1, text="the cat and the hat"), point(2, text="of mice and men")])
        assert store.search_lexical(name, "the and of", 10) == []
        assert store.search_lexical(name, "", 10) == []
        assert store.search_lexical(name, "  ,;!  ", 10) == []

    def test_lexical_query_syntax_is_plain_text(self, store: VectorStore, make_collection: MakeCollection):
        name = make_collection(lexical=True)
        store.upsert(name, [point(1, text="O'Reilly's back\\slash cats"), point(2, text="dogs only")])
        for query in ["o'reilly & | ! :* <-> ( cats", "'\\ cats:*", "cats') OR 1=1 --", "\x00cats", "reilly"]:
            assert [h.id for h in store.search_lexical(name, query, 10)] == [pid(1)], query
        assert store.search_lexical(name, "'\\", 10) == []

    def test_non_lexical_collection_ignores_text_and_refuses_lexical_search(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection()
        store.upsert(name, [point(1, text="lantern")])
        assert ids(store.search(name, unit(1), 5)) == {pid(1)}
        with pytest.raises(InvalidRequest):
            store.search_lexical(name, "lantern", 5)
        assert store.search_lexical(f"ct_missing_{uuid.uuid4().hex[:8]}", "lantern", 5) == []

    def test_ensure_collection_with_other_lexical_flag_raises(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        dense, both = make_collection(), make_collection(lexical=True)
        store.upsert(both, [point(1, text="anchor")])
        with pytest.raises(DimensionMismatch):
            store.ensure_collection(CollectionSpec(dense, DIM, "cosine", lexical=True))
        with pytest.raises(DimensionMismatch):
            store.ensure_collection(CollectionSpec(both, DIM, "cosine", lexical=False))
        store.ensure_collection(
            CollectionSpec(both, DIM, "cosine", hnsw_m=8, hnsw_ef_construct=32, lexical=True)
        )
        assert ids(store.search_lexical(both, "anchor", 5)) == {pid(1)}
        with pytest.raises(InvalidRequest):
            store.search_lexical(dense, "anchor", 5)

    def test_lexical_collection_keeps_payloads_counts_and_points(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        name = make_collection(lexical=True)
        written = [
            point(i, plan=7, enabled=i % 5 != 0, text=f"pebble {i}" if i % 2 else None) for i in range(9)
        ]
        store.upsert(name, written)
        assert {h.id: h.payload for h in store.iter_points(name, batch_size=4)} == {
            p.id: p.payload for p in written
        }
        assert store.count(name) == 9 and store.count(name, SearchFilter()) == 7
        assert ids(store.search_lexical(name, "pebble", 20, SearchFilter(only_enabled=False))) == {
            pid(i) for i in range(1, 9, 2)
        }

    def test_lexical_leg_survives_close_and_reopen(self, open_store: OpenStore):
        first = open_store()
        name = f"ct_{uuid.uuid4().hex[:12]}"
        first.ensure_collection(CollectionSpec(name, DIM, lexical=True))
        first.upsert(name, [point(i, text=f"compass needle {i}" if i < 3 else "map") for i in range(6)])
        first.set_enabled(name, [pid(1)], False)
        before = first.search_lexical(name, "compass map", 10, SearchFilter())
        first.close()
        second = open_store()
        try:
            after = second.search_lexical(name, "compass map", 10, SearchFilter())
            # Same hits, same scores (ties may come back in another order).
            assert {h.id: h.score for h in after} == pytest.approx({h.id: h.score for h in before}, rel=1e-5)
            assert ids(after) == {pid(0), pid(2), pid(3), pid(4), pid(5)}
            second.upsert(name, [point(9, text="compass rose")])
            assert pid(9) in ids(second.search_lexical(name, "rose", 10))
            second.ensure_collection(CollectionSpec(name, DIM, lexical=True))
            with pytest.raises(DimensionMismatch):
                second.ensure_collection(CollectionSpec(name, DIM))
            assert ids(second.search(name, unit(2), 1)) == {pid(2)}
        finally:
            second.drop_collection(name)
            second.close()

    def test_data_survives_close_and_reopen(self, open_store: OpenStore):
        first = open_store()
        name = f"ct_{uuid.uuid4().hex[:12]}"
        first.ensure_collection(CollectionSpec(name, DIM))
        first.upsert(name, [point(i) for i in range(12)])
        first.set_enabled(name, [pid(3)], False)
        first.close()
        second = open_store()
        try:
            assert second.count(name, SearchFilter(only_enabled=False)) == 12
            assert second.count(name, SearchFilter()) == 11
            assert ids(second.search(name, unit(2), 2)) == {pid(2), pid(10)}  # 10 % DIM == 2
            second.ensure_collection(CollectionSpec(name, DIM))
            with pytest.raises(DimensionMismatch):
                second.ensure_collection(CollectionSpec(name, DIM * 2))
        finally:
            second.drop_collection(name)
            second.close()


class TestMemoryStore(StoreContract):
    """The test double shipped in ``indexflow.testing``: it must behave like the real engines."""

    @pytest.fixture
    def open_store(self) -> OpenStore:
        from indexflow.testing import MemoryStore

        shared = MemoryStore()  # data lives as long as the object: "reopening" is using it again
        return lambda: shared

    def test_another_instance_shares_nothing(self, store: VectorStore, make_collection: MakeCollection):
        from indexflow.testing import MemoryStore

        name = make_collection()
        store.upsert(name, [point(1)])
        other = MemoryStore()
        assert other.count(name) == 0 and other.collections() == []

    def test_payloads_are_copied_in_and_out(self, store: VectorStore, make_collection: MakeCollection):
        name = make_collection()
        written = point(1)
        store.upsert(name, [written])
        written.payload["plan_id"] = 99
        [hit] = store.search(name, unit(1), 1)
        hit.payload["plan_id"] = 98
        assert next(iter(store.iter_points(name))).payload["plan_id"] == 1

    def test_ids_are_canonical_uuids_and_others_are_refused(
        self, store: VectorStore, make_collection: MakeCollection
    ):
        from indexflow.errors import PermanentError

        name = make_collection()
        store.upsert(name, [VectorPoint(pid(1).upper(), unit(1), {"plan_id": 1})])
        assert [h.id for h in store.iter_points(name)] == [pid(1)]
        with pytest.raises(PermanentError):
            store.upsert(name, [VectorPoint("not-a-uuid", unit(1), {})])
        with pytest.raises(DimensionMismatch):
            store.search(name, [1.0, 0.0], 3)


class TestQdrantEdge(StoreContract):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> OpenStore:
        from indexflow.stores.qdrant_edge import QdrantEdgeStore

        return lambda: QdrantEdgeStore(tmp_path / "vectors")

    def test_another_process_sees_the_data_and_cannot_open_it_meanwhile(
        self, open_store: OpenStore, tmp_path
    ):
        script = textwrap.dedent(
            """
            import sys
            from indexflow.errors import StoreUnavailable
            from indexflow.stores.base import CollectionSpec, VectorPoint
            from indexflow.stores.qdrant_edge import QdrantEdgeStore
            store = QdrantEdgeStore(sys.argv[1])
            if sys.argv[2] == "write":
                store.ensure_collection(CollectionSpec("shared", 4))
                store.upsert("shared", [VectorPoint(sys.argv[3], [1.0, 0, 0, 0], {"plan_id": 1})])
                store.close()
            else:
                try:
                    print(store.count("shared"))
                except StoreUnavailable:
                    print("unavailable")
            """
        )

        def run(*args: str) -> str:
            cmd = [sys.executable, "-c", script, str(tmp_path / "vectors"), *args]
            return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout.strip()

        run("write", pid(1))
        store = open_store()
        try:
            assert store.count("shared") == 1  # written by another process, seen after reopen
            assert run("count") == "unavailable"  # the WAL lock keeps a second process out
        finally:
            store.close()
        assert run("count") == "1"

    def test_optimize_builds_the_index_and_search_still_works(self, store, make_collection):
        name = make_collection(dimension=16)
        vectors = np.random.default_rng(1).standard_normal((300, 16)).astype(np.float32)
        store.upsert(name, [point(i, vectors[i]) for i in range(300)])
        store.optimize(name)
        assert store.search(name, vectors[42].tolist(), 1)[0].id == pid(42)
        assert store.count(name) == 300


class TestQdrantLocal(StoreContract):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> OpenStore:
        from indexflow.stores.qdrant import QdrantStore

        return lambda: QdrantStore(path=str(tmp_path / "qdrant"))

    def test_unreachable_server_is_store_unavailable(self):
        from qdrant_client import QdrantClient

        from indexflow.stores.qdrant import QdrantStore

        client = QdrantClient(url="http://127.0.0.1:9", timeout=2, check_compatibility=False)
        store = QdrantStore(client=client)
        with pytest.raises(StoreUnavailable):
            store.count("anything")
        with pytest.raises(StoreUnavailable):
            store.ensure_collection(CollectionSpec("anything", DIM))
        store.close()


@pytest.mark.integration
class TestPgVector(StoreContract):
    shared_analyzer = False  # PostgreSQL's to_tsvector('english') and ts_rank_cd

    @pytest.fixture
    def open_store(self, pg_dsn: str) -> OpenStore:
        from indexflow.stores.pgvector import PgVectorStore

        return lambda: PgVectorStore(pg_dsn)

    def test_upsert_inside_the_callers_transaction(self, store, make_collection, pg_dsn: str):
        name = make_collection()
        with psycopg.connect(pg_dsn) as conn:
            store.upsert(name, [point(1), point(2)], conn=conn)
            store.upsert(name, [point(3)], conn=conn)
            assert store.count(name) == 0  # not committed yet: invisible to other connections
            conn.commit()
            assert store.count(name) == 3
            store.upsert(name, [point(4)], conn=conn)
            conn.rollback()
        assert store.count(name) == 3

    def test_upsert_commits_with_a_sqlalchemy_session(self, store, make_collection, pg_dsn: str):
        from sqlalchemy import create_engine, text
        from sqlalchemy.orm import Session

        name = make_collection()
        engine = create_engine(pg_dsn.replace("postgresql://", "postgresql+psycopg://"))
        try:
            from indexflow.stores.base import TransactionalStore

            port = store  # narrowed to the port below; ``store`` keeps the whole VectorStore
            assert isinstance(port, TransactionalStore)  # the port the pipeline uses
            with Session(engine) as session:  # rolled back: neither the vectors nor the row stay
                port.upsert_in(session, name, [point(1)])
                session.execute(text("SELECT 1"))
                session.rollback()
            assert store.count(name) == 0
            with Session(engine) as session, session.begin():
                port.upsert_in(session, name, [point(2)])
                assert store.count(name) == 0
            assert store.count(name) == 1
        finally:
            engine.dispose()

    def test_sqlalchemy_url_is_accepted(self, make_collection, pg_dsn: str):
        from indexflow.stores.pgvector import PgVectorStore

        name = make_collection()
        store = PgVectorStore(pg_dsn.replace("postgresql://", "postgresql+psycopg://"))
        store.upsert(name, [point(1)])
        assert store.count(name) == 1
        store.close()

    def test_table_names_are_safe_distinct_and_short(self):
        from indexflow.stores.pgvector_sql import table_name

        names = [table_name(n) for n in ("default", "a-b", "a_b", "A_b", "x" * 200, "x" * 201)]
        assert names[0] == "indexflow_vec_default"
        assert len(set(names)) == len(names)
        assert all(re.fullmatch(r"[a-z0-9_]{1,54}", n) for n in names)

    def test_selective_filter_still_fills_the_limit(self, store, make_collection):
        # With an HNSW scan only ef_search candidates are filtered; iterative scan keeps going.
        name = make_collection(dimension=16)
        vectors = np.random.default_rng(5).standard_normal((2000, 16)).astype(np.float32)
        store.upsert(name, [point(i, vectors[i], enabled=i % 100 == 0) for i in range(2000)])
        hits = store.search(name, vectors[7].tolist(), 10, SearchFilter())
        assert len(hits) == 10 and all(h.payload["enabled"] for h in hits)

    def test_unreachable_database_is_store_unavailable(self):
        from indexflow.stores.pgvector import PgVectorStore

        with pytest.raises(StoreUnavailable):
            PgVectorStore("postgresql://postgres@127.0.0.1:9/test").count("anything")
