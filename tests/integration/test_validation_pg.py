"""What PostgreSQL refuses (it enforces VARCHAR lengths, SQLite does not) is a permanent error:
a background unit fails its plan at once with a readable reason, never "gave up after 5 retries"."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexflow.domain.components import ParsedDocument
from indexflow.parsers.base import Limits, TreeBuilder
from indexflow.parsers.detect import Sniffed

pytestmark = pytest.mark.integration


def parse_long_kinds(data: bytes, filename: str | None, limits: Limits, sniffed: Sniffed) -> ParsedDocument:
    """A plug-in parser that does not hold its kinds to the column (the JSON tree parser does)."""
    builder = TreeBuilder("longkinds", limits, filename)
    builder.add(None, "k" * 40, data.decode())
    return builder.finish()


def test_a_component_kind_too_long_for_its_column_fails_the_plan_at_once_with_a_readable_error(
    pg_database: str, tmp_path: Path
) -> None:
    from indexflow import Indexflow
    from indexflow.parsers import registry
    from indexflow.settings import Settings
    from indexflow.testing import HashEncoder, MemoryStore

    fmt = registry.Format("longkinds", "long kinds", ("lk",), parse_long_kinds)
    settings = Settings(home=tmp_path / "home", database_url=pg_database, max_embed_retries=5)
    with registry.registered(fmt), Indexflow(settings, store=MemoryStore(), encoder=HashEncoder()) as ix:
        # given a document whose parser yields a component kind of 40 characters (the column: 32)
        # and a plain one beside it
        bad = ix.enqueue_source("notes.lk", dataset="docs", data=b"Some text.")
        good = ix.enqueue_source("notes.txt", dataset="docs", data=b"Some other text.")
        # when both are processed
        progress = ix.wait([*bad.plan_ids, *good.plan_ids], timeout=60)
        # then the bad one failed on its first try, naming the column and the limit, and the other
        # one embedded
        [plan_id] = bad.plan_ids
        plan = ix.plans.get(plan_id)
        assert plan.status == "FAILED", plan
        assert plan.last_error == "value too long for components.kind (40 characters, at most 32)"
        assert ix.plans.get(good.plan_ids[0]).status == "EMBEDDED"
        assert progress.finished


def test_values_postgresql_refuses_are_invalid_data_naming_the_column(
    pg_database: str, tmp_path: Path
) -> None:
    from indexflow.db import documents as docs_repo
    from indexflow.db import profiles as profiles_repo
    from indexflow.db.session import transaction
    from indexflow.errors import InvalidData
    from indexflow.runtime import Runtime
    from indexflow.settings import Settings

    rt = Runtime(Settings(home=tmp_path / "home", database_url=pg_database))
    rt.ensure_schema()
    try:
        # a name longer than its VARCHAR: the column, the length and the limit, not the driver's text
        too_long = r"^value too long for datasets\.name \(300 characters, at most 200\)$"
        with pytest.raises(InvalidData, match=too_long), transaction(rt.sessions) as s:
            docs_repo.get_or_create_dataset(s, "d" * 300)
        # a NUL character, which PostgreSQL text cannot hold
        with (
            pytest.raises(InvalidData, match=r"^datasets\.name cannot hold a NUL character$"),
            transaction(rt.sessions) as s,
        ):
            docs_repo.find_dataset_id(s, "a\x00b")
        # a number too large for an INTEGER column
        fields = profiles_repo.DEFAULT_PROFILE | {"hnsw_m": 2**40}
        with pytest.raises(InvalidData, match="out of range"), transaction(rt.sessions) as s:
            profiles_repo.create(s, "big", **fields, is_active=False)
    finally:
        rt.close()
