"""The plan state machine, as a table: every state × event, and what it leads to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from indexflow.db.models import PlanStatus
from indexflow.pipeline import machine as m

P, B, R, E, D, F = (
    PlanStatus.PENDING,
    PlanStatus.BUNDLING,
    PlanStatus.READY,
    PlanStatus.EMBEDDING,
    PlanStatus.EMBEDDED,
    PlanStatus.FAILED,
)
G = 3  # the plan's generation in every row
NOW = datetime(2026, 12, 1, 10, 42, tzinfo=UTC)
IGNORED, ILLEGAL = "ignored", "illegal"


def row(*cells: Any) -> dict[PlanStatus, Any]:
    """One table row: the outcome for P, B, R, E, D, F in that order."""
    return dict(zip((P, B, R, E, D, F), cells, strict=True))


BUNDLE, EMBED_ALL = (m.Bundle,), (m.EmbedAll,)
# outcome: IGNORED, ILLEGAL, or (new status, generation change, kinds of work items)
TABLE: list[tuple[m.Event, dict[PlanStatus, Any]]] = [
    (m.Start(), row((P, 0, BUNDLE), IGNORED, IGNORED, IGNORED, IGNORED, (P, 1, BUNDLE))),
    (m.Parsed(), row((P, 0, BUNDLE), IGNORED, IGNORED, IGNORED, IGNORED, IGNORED)),
    (m.BundleStarted(G), row((B, 0, ()), (B, 0, ()), IGNORED, IGNORED, IGNORED, IGNORED)),
    (m.Bundled(G, 5), row(IGNORED, (E, 0, EMBED_ALL), IGNORED, IGNORED, IGNORED, IGNORED)),
    (m.Bundled(G, 5, embed=False), row(IGNORED, (R, 0, ()), IGNORED, IGNORED, IGNORED, IGNORED)),
    (m.Bundled(G, 0), row(IGNORED, (F, 0, ()), IGNORED, IGNORED, IGNORED, IGNORED)),
    (m.BatchEmbedded(G, 3), row(IGNORED, IGNORED, IGNORED, (E, 0, ()), IGNORED, IGNORED)),
    (m.BatchEmbedded(G, 0), row(IGNORED, IGNORED, IGNORED, (D, 0, ()), IGNORED, IGNORED)),
    (m.Fail("boom"), row((F, 0, ()), (F, 0, ()), (F, 0, ()), (F, 0, ()), IGNORED, IGNORED)),
    (m.Cancel("superseded"), row((F, 1, ()), (F, 1, ()), (F, 1, ()), (F, 1, ()), IGNORED, IGNORED)),
    (m.Rerun(), row(*[(P, 1, BUNDLE)] * 6)),
    (m.Retire(), row(IGNORED, IGNORED, IGNORED, IGNORED, (R, 0, ()), IGNORED)),
    (m.Deactivate(), row((F, 1, ()), (F, 1, ()), (F, 1, ()), (F, 1, ()), (F, 1, ()), (F, 0, ()))),
    (
        m.Deactivate(mark_failed=False, drop_vectors=False),
        row((F, 1, ()), (F, 1, ()), (F, 1, ()), (F, 1, ()), (D, 0, ()), (F, 0, ())),
    ),
    (m.Rewant(), row(IGNORED, IGNORED, (E, 0, EMBED_ALL), IGNORED, IGNORED, IGNORED)),
    (m.Activate(), row(ILLEGAL, ILLEGAL, ILLEGAL, ILLEGAL, (D, 0, ()), ILLEGAL)),
    (
        m.Activate(force=True),
        row((P, 0, ()), (B, 0, ()), (P, 1, BUNDLE), (E, 0, ()), (D, 0, ()), (P, 1, BUNDLE)),
    ),
    (m.Resume(), row((P, 0, BUNDLE), (P, 0, BUNDLE), IGNORED, (E, 0, EMBED_ALL), IGNORED, IGNORED)),
    (m.Waiting("store unavailable", NOW, NOW), row(*[(s, 0, ()) for s in (P, B, R, E)], IGNORED, IGNORED)),
]
CASES = [(ev, status, outcome) for ev, cells in TABLE for status, outcome in cells.items()]


def state(status: PlanStatus, **kw: Any) -> m.PlanState:
    base = {"plan_id": 7, "version_id": 70, "generation": G, "parsed": True, "has_chunks": True}
    return m.PlanState(status=status, **(base | kw))


def test_the_table_covers_every_state_and_every_kind_of_event() -> None:
    kinds = {type(ev) for ev, _ in TABLE}
    assert kinds == set(m.Event.__args__)
    assert all(set(cells) == set(PlanStatus) for _, cells in TABLE)


@pytest.mark.parametrize(("event", "status", "outcome"), CASES, ids=lambda v: getattr(v, "value", repr(v)))
def test_transition(event: m.Event, status: PlanStatus, outcome: Any) -> None:
    st = state(status)
    if outcome == ILLEGAL:
        with pytest.raises(m.IllegalTransition, match="not EMBEDDED"):
            m.transition(st, event)
        return
    step = m.transition(st, event)
    if outcome == IGNORED:
        assert step is None
        return
    new_status, generation_change, kinds = outcome
    assert step is not None
    assert (step.status, step.generation - G, tuple(type(w) for w in step.work)) == (
        new_status,
        generation_change,
        kinds,
    )
    # work always targets the generation the step leaves the plan at
    assert all(getattr(w, "generation", step.generation) == step.generation for w in step.work)
    if new_status == F and status != F:
        assert step.error


def test_an_unparsed_plan_starts_with_a_parse_of_its_version() -> None:
    step = m.transition(state(P, parsed=False), m.Start())
    assert step is not None and step.work == (m.Parse(70),)


@pytest.mark.parametrize(
    "event",
    [
        m.BundleStarted(G - 1),
        m.Bundled(G - 1, 5),
        m.BatchEmbedded(G - 1, 0),
        m.Fail("late", generation=G - 1),
    ],
)
def test_events_of_a_superseded_generation_are_ignored(event: m.Event) -> None:
    for status in PlanStatus:
        assert m.transition(state(status), event) is None


def test_a_serving_plan_that_is_retired_mid_rebuild_fails_its_build_and_stops_serving() -> None:
    step = m.transition(state(E, is_active=True, serving=True), m.Retire())
    assert step is not None and (step.status, step.generation, step.retire) == (F, G + 1, True)
    assert "superseded" in (step.error or "")


def test_a_rerun_keeps_an_active_plan_active_and_a_complete_step_swaps_it_in() -> None:
    rerun = m.transition(state(D, is_active=True, serving=True), m.Rerun())
    assert rerun is not None and not rerun.retire and not rerun.unserve  # keeps serving meanwhile
    done = m.transition(state(E, is_active=True, serving=True), m.BatchEmbedded(G, 0))
    assert done is not None and done.complete


def test_waiting_records_the_reason_and_any_progress_clears_it() -> None:
    wait = m.transition(state(E), m.Waiting("store unavailable: refused", NOW, NOW))
    assert wait is not None and wait.waiting is not None and not wait.clear_waiting
    progress = m.transition(state(E), m.BatchEmbedded(G, 2))
    assert progress is not None and progress.clear_waiting


def test_backoff_doubles_and_is_capped() -> None:
    assert [m.backoff(n, cap=10).total_seconds() for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
