"""Our ranking metrics agree with trec_eval (pytrec_eval) on arbitrary rankings and judgments."""

from __future__ import annotations

import math

import pytest
import pytrec_eval
from hypothesis import given, settings
from hypothesis import strategies as st

from indexflow.domain.metrics import mean_scores, metric_names, score_ranking

UNITS = [f"d{i}" for i in range(12)]


def _trec(ranking: list[str | None], relevant: dict[str, int], k: int) -> dict[str, float]:
    """trec_eval's figures for the same ranked list (repeats and misses renamed: not relevant)."""
    run: dict[str, float] = {}
    seen: set[str] = set()
    for i, unit in enumerate(ranking[:k]):
        name = unit if unit is not None and unit not in seen else f"other{i}"
        seen.add(name)
        run[name] = float(len(ranking) - i)
    cuts = sorted({1, 5, k} & set(range(1, k + 1)))
    measures = {f"ndcg_cut.{k}", f"recall.{k}", "recip_rank", "success." + ",".join(map(str, cuts))}
    out = pytrec_eval.RelevanceEvaluator({"q": relevant}, measures).evaluate({"q": run})["q"]
    got = {f"hit@{c}": out[f"success_{c}"] for c in cuts}
    got |= {
        f"mrr@{k}": out["recip_rank"],
        f"ndcg@{k}": out[f"ndcg_cut_{k}"],
        f"recall@{k}": out[f"recall_{k}"],
    }
    return got


@settings(max_examples=300, deadline=None)
@given(
    ranking=st.lists(st.one_of(st.none(), st.sampled_from(UNITS)), min_size=1, max_size=15),
    relevant=st.dictionaries(st.sampled_from(UNITS), st.integers(1, 3), min_size=1, max_size=6),
    k=st.sampled_from([1, 3, 5, 10]),
)
def test_every_figure_matches_trec_eval(ranking: list[str | None], relevant: dict[str, int], k: int) -> None:
    ours = score_ranking(ranking, {u: float(g) for u, g in relevant.items()}, k)
    theirs = _trec(ranking, relevant, k)
    assert set(ours) == set(theirs) == set(metric_names(k))
    for name, value in theirs.items():
        assert math.isclose(ours[name], value, abs_tol=1e-9), (name, ours[name], value)


def test_a_repeated_relevant_document_counts_once() -> None:
    # Three chunks of the same relevant page, then the second relevant page at rank 4.
    scores = score_ranking(["a", "a", "a", "b"], {"a": 1.0, "b": 1.0}, 10)
    assert scores["recall@10"] == 1.0
    assert scores["mrr@10"] == 1.0
    ideal = 1 + 1 / math.log2(3)
    assert math.isclose(scores["ndcg@10"], (1 + 1 / math.log2(5)) / ideal)


def test_names_write_k_out_and_drop_cut_offs_above_k() -> None:
    assert metric_names(10) == ["hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10", "recall@10"]
    assert metric_names(5) == ["hit@1", "hit@5", "mrr@5", "ndcg@5", "recall@5"]
    assert metric_names(3) == ["hit@1", "hit@3", "mrr@3", "ndcg@3", "recall@3"]


def test_the_mean_is_over_queries_and_k_must_be_positive() -> None:
    a = score_ranking(["x", "r"], {"r": 1.0}, 2)
    b = score_ranking(["r"], {"r": 1.0}, 2)
    mean = mean_scores([a, b], 2)
    assert mean["mrr@2"] == pytest.approx(0.75)
    assert mean["hit@1"] == pytest.approx(0.5)
    assert mean_scores([], 2) == dict.fromkeys(metric_names(2), 0.0)
    with pytest.raises(ValueError):
        score_ranking([], {"r": 1.0}, 0)
