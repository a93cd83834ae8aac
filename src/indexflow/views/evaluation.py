"""Retrieval evaluation: figures per profile, the queries each profile missed."""

from __future__ import annotations

from indexflow.views.base import View


class EvalMiss(View):
    """A query none of whose relevant items was in the top K."""

    id: str
    query: str
    relevant: list[str]
    got: list[str]
    """The sources of the top hits, best first (what came back instead)."""


class ProfileScores(View):
    profile: str
    mode: str
    max_per_document: int
    metrics: dict[str, float]
    """``hit@1``, ``hit@5``, ``hit@K``, ``mrr@K``, ``ndcg@K``, ``recall@K`` with K written out."""
    misses: list[EvalMiss]


class EvalReport(View):
    dataset: str
    k: int
    queries: int
    profiles: list[ProfileScores]

    def table(self) -> dict[str, dict[str, float]]:
        """``{profile: {"hit@10": …, "mrr@10": …, …}}``: what ``indexflow eval --json`` prints."""
        return {p.profile: dict(p.metrics) for p in self.profiles}


class GateResult(View):
    """The outcome of ``profiles default NAME --gate``: switched or kept, with both rows."""

    switched: bool
    default: str
    """The profile search uses after the gate."""
    candidate: str
    previous: str | None
    margin: float
    candidate_metrics: dict[str, float]
    previous_metrics: dict[str, float] | None
    worse: list[str]
    """The figures on which the candidate lost by more than the margin."""
