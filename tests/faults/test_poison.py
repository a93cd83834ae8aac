"""Poison documents among 50 good ones: each fails at once with a readable reason, none holds up the rest.

In-process. The poison: a ``.pdf`` of garbage bytes, and a JSON component tree whose parent links
form a cycle. A parse error is permanent: the plan fails on the first try (no retries, no
backoff), with an error that names the file; the 50 others are all indexed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.faults.conftest import (
    assert_invariants,
    plan_ids_of,
    record_statuses,
    wait_plans,
    write_docs,
)


@pytest.mark.timeout(240)
def test_poison_documents_fail_alone_with_a_readable_error(make_ix, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    good = write_docs(folder, 50, paragraphs=1)
    garbage = folder / "broken.pdf"
    garbage.write_bytes(b"%PDF-1.7\n" + os.urandom(4096))
    cycle = folder / "cycle.json"
    cycle.write_text(
        json.dumps(
            [
                {"id": "a", "parent_id": "b", "position": 0, "kind": "section", "text": "Part A"},
                {"id": "b", "parent_id": "a", "position": 0, "kind": "section", "text": "Part B"},
            ]
        )
    )
    ix = make_ix(embed_batch_size=16)
    with record_statuses(ix, interval=0.5) as rec:
        report = ix.ingest([str(folder)], dataset="d", wait=False)
        assert len(report.documents) == 52, report.to_dict()
        wait_plans(ix, plan_ids_of(report), timeout=200)
    assert_invariants(
        ix,
        {
            **dict.fromkeys(good, "EMBEDDED"),
            garbage: ("FAILED", "broken.pdf"),
            cycle: ("FAILED", "cycle.json"),
        },
    )
    # permanent: no unit was ever given back with backoff (the poison failed on its first try)
    assert rec.max_failures == 0
    rec.assert_never_backwards()
    errors = {d.source: d.error for d in ix.documents.list(dataset="d") if d.status == "FAILED"}
    assert len(errors) == 2 and all(e and len(e) < 500 and "Traceback" not in e for e in errors.values()), (
        errors
    )
