"""Ranking metrics for retrieval evaluation, computed the standard (trec_eval) way.

A ranking is the list of what search returned, best first; each position holds the id of the
*judged unit* it belongs to (a document source, a chunk id …) or ``None`` when it matches no
judgment. A unit counts once, at its first position: a second chunk of an already-seen relevant
document adds nothing to recall or nDCG (and so cannot inflate them), exactly as if that
position held a non-relevant item. ``hit@K`` and ``MRR@K`` then read the first relevant
position; this is what ``trec_eval`` computes for the same ranked list with duplicates renamed.

- ``hit@K``: 1 when a relevant unit is in the top K, else 0.
- ``mrr@K``: 1 / rank of the first relevant unit in the top K (0 if none).
- ``recall@K``: relevant units in the top K / all relevant units.
- ``ndcg@K``: DCG with gain = grade and discount log2(rank + 1), over the ideal DCG of the
  judgments' grades sorted best first (``ndcg_cut`` in trec_eval, ``ndcg`` in ranx).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

METRICS = ("hit@1", "hit@5", "hit@K", "mrr@K", "ndcg@K", "recall@K")
"""The figures every evaluation reports, ``K`` written out (``hit@10``) in results."""


def metric_names(k: int) -> list[str]:
    """``METRICS`` with ``K`` replaced by ``k``; cut-offs above ``k`` and repeats are dropped
    (``k=5`` gives hit@1, hit@5, mrr@5 …; ``k=3`` gives hit@1, hit@3 …)."""
    names: list[str] = []
    for m in METRICS:
        name = m.replace("K", str(k))
        if int(name.split("@")[1]) <= k and name not in names:
            names.append(name)
    return names


def score_ranking(ranking: Sequence[str | None], relevant: Mapping[str, float], k: int) -> dict[str, float]:
    """Every figure of ``metric_names(k)`` for one query.

    Args:
        ranking: judged unit per position (``None``: matches no judgment), best first.
        relevant: relevant unit → grade (> 0; non-positive grades are not relevant).
        k: the cut-off K.

    Raises:
        ValueError: ``k`` < 1.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    grades = {unit: g for unit, g in relevant.items() if g > 0}
    seen: set[str] = set()
    gains: list[float] = []  # per position of the top k, 0 for non-relevant and repeats
    for unit in ranking[:k]:
        gain = 0.0
        if unit is not None and unit in grades and unit not in seen:
            gain = grades[unit]
            seen.add(unit)
        gains.append(gain)
    first = next((i for i, g in enumerate(gains) if g > 0), None)
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    out: dict[str, float] = {}
    for name in metric_names(k):
        kind, cut = name.split("@")
        n = int(cut)
        if kind == "hit":
            out[name] = 1.0 if first is not None and first < n else 0.0
        elif kind == "mrr":
            out[name] = 1.0 / (first + 1) if first is not None else 0.0
        elif kind == "ndcg":
            out[name] = dcg / idcg if idcg > 0 else 0.0
        else:  # recall
            out[name] = len(seen) / len(grades) if grades else 0.0
    return out


def mean_scores(per_query: Sequence[Mapping[str, float]], k: int) -> dict[str, float]:
    """The mean of each figure over the queries (all zeros when there are none)."""
    names = metric_names(k)
    if not per_query:
        return dict.fromkeys(names, 0.0)
    return {n: sum(q[n] for q in per_query) / len(per_query) for n in names}
