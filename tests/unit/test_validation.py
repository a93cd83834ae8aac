"""Validation at the edges, through the facade (so the library, the CLI and the API agree).

Names and sources that do not fit their column are refused before anything is written, naming
the field and the limit (``indexflow.limits``); titles and file names are shortened; a JSON
component id that is too long fails its own document only; a value the database refuses is a
permanent error that fails the plan at once. The PostgreSQL versions (where VARCHAR lengths are
enforced) are in ``tests/integration/test_validation_pg.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.exc import DataError

from indexflow import limits
from indexflow.db import models
from indexflow.errors import InvalidData, InvalidRequest, ParseError, WriteConflict
from indexflow.settings import Settings
from tests.lifecycle_support import TRAINS, write_doc

if TYPE_CHECKING:
    from indexflow.service import Indexflow


@pytest.fixture
def ix(settings: Settings) -> Iterator[Indexflow]:
    from indexflow import Indexflow
    from indexflow.testing import HashEncoder, MemoryStore

    with Indexflow(settings, store=MemoryStore(), encoder=HashEncoder()) as instance:
        yield instance


def _records(*records: dict[str, Any]) -> bytes:
    return json.dumps(list(records)).encode()


# -- one place for the limits -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("column", "limit"),
    [
        (models.Dataset.__table__.c.name, limits.DATASET_NAME_MAX),
        (models.Document.__table__.c.source, limits.SOURCE_MAX),
        (models.Document.__table__.c.title, limits.TITLE_MAX),
        (models.DocumentVersion.__table__.c.title, limits.TITLE_MAX),
        (models.DocumentBlob.__table__.c.filename, limits.FILENAME_MAX),
        (models.IndexProfile.__table__.c.name, limits.PROFILE_NAME_MAX),
        (models.IndexProfile.__table__.c.encoder, limits.ENCODER_NAME_MAX),
        (models.Component.__table__.c.local_id, limits.COMPONENT_ID_MAX),
        (models.Component.__table__.c.parent_local_id, limits.COMPONENT_ID_MAX),
        (models.Component.__table__.c.kind, limits.COMPONENT_KIND_MAX),
    ],
    ids=lambda v: getattr(v, "key", str(v)),
)
def test_every_checked_column_is_declared_with_the_limit_its_check_uses(column: Any, limit: int) -> None:
    # given a column that outside input reaches; then the model declares it with the checked size
    assert column.type.length == limit


# -- names and sources --------------------------------------------------------------------------
def test_a_dataset_name_over_200_characters_is_refused_naming_the_field_and_nothing_is_written(
    ix: Indexflow,
) -> None:
    # when a document is registered into a dataset whose name is too long for its column
    with pytest.raises(InvalidRequest, match=r"^dataset: 201 characters is over the limit of 200$"):
        ix.enqueue_source("notes.txt", dataset="d" * 201, data=b"some text")
    # then nothing was written
    assert ix.documents.list() == [] and ix.documents.datasets() == []


def test_ingest_refuses_a_bad_dataset_name_before_reading_any_document(ix: Indexflow, tmp_path: Path) -> None:
    # given a folder that does not exist: reading it would be a different error
    with pytest.raises(InvalidRequest, match=r"dataset: 'my docs/2024' may hold only letters, digits"):
        ix.ingest([str(tmp_path / "missing")], dataset="my docs/2024")


def test_a_new_dataset_needs_a_plain_name_but_one_made_before_the_rule_keeps_working(ix: Indexflow) -> None:
    # given a dataset created (by an older version) with a name the rule now refuses
    with ix.rt.sessions.begin() as s:
        s.add(models.Dataset(name="Old Notes"))
    # when documents are registered into it and into a new dataset of the same style
    ok = ix.enqueue_source("a.txt", dataset="Old Notes", data=b"alpha")
    with pytest.raises(InvalidRequest, match="dataset: 'New Notes' may hold only"):
        ix.enqueue_source("b.txt", dataset="New Notes", data=b"beta")
    # then the old one still takes documents
    assert ok.outcome == "new"


@pytest.mark.parametrize("dataset", ["", ".hidden", "a\x00b"])
def test_empty_dotted_or_nul_dataset_names_are_refused(ix: Indexflow, dataset: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^dataset: "):
        ix.enqueue_source("a.txt", dataset=dataset, data=b"alpha")


def test_a_source_over_2000_characters_is_refused_naming_the_field(ix: Indexflow) -> None:
    source = "s3://bucket/" + "k" * 1990
    with pytest.raises(InvalidRequest, match=r"^source: 2002 characters is over the limit of 2000$"):
        ix.enqueue_source(source, dataset="docs", data=b"some text")


def test_a_long_file_name_becomes_a_shortened_title_and_file_name_and_the_document_still_embeds(
    ix: Indexflow,
) -> None:
    # given a URI whose last segment (the title and the file name) is longer than those columns
    name = "report-" + "x" * 700 + ".txt"
    reg = ix.enqueue_source(f"s3://bucket/{name}", dataset="docs", data=b"Trains run on time.\n")
    # when it is processed
    [plan_id] = reg.plan_ids
    ix.wait([plan_id], timeout=60)
    # then its title is cut to the column (marked "…") and the format came from the kept extension
    doc = ix.documents.get(reg.document_id)
    assert doc.title is not None and len(doc.title) == limits.TITLE_MAX and doc.title.endswith("…")
    assert ix.plans.get(plan_id).status == "EMBEDDED"
    assert limits.fit_filename(name).endswith("….txt") and len(limits.fit_filename(name)) == 500


# -- profiles -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("p" * 201, {}, r"^profile name: 201 characters is over the limit of 200$"),
        ("small chunks", {}, r"^profile name: 'small chunks' may hold only"),
        ("", {}, r"^profile name: may not be empty$"),
        ("huge", {"chunk_size": 2**40}, r"^chunk_size: 1099511627776 is out of range"),
        ("long-encoder", {"encoder": "e" * 501}, r"^encoder: 501 characters is over the limit of 500$"),
    ],
)
def test_a_profile_that_does_not_fit_its_columns_is_refused_naming_the_field(
    ix: Indexflow, name: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        ix.profiles.create(name, **params)
    assert [p.name for p in ix.profiles.list()] == ["default"]


def test_a_clone_under_a_name_that_does_not_fit_is_refused(ix: Indexflow) -> None:
    with pytest.raises(InvalidRequest, match=r"^profile name: 201 characters"):
        ix.profiles.clone("default", "c" * 201)


# -- JSON component trees ---------------------------------------------------------------------------
def test_a_json_id_over_the_limit_is_a_parse_error_naming_the_record_the_field_and_the_limit() -> None:
    from indexflow.parsers import parse

    data = _records({"id": "q1", "text": "Q"}, {"id": "a" * 201, "parent_id": "q1", "text": "A"})
    with pytest.raises(ParseError, match=r"record #1: its id is 201 characters long, over the limit of 200"):
        parse(data, "exam.json")
    data = _records({"id": "q1", "parent_id": "p" * 300, "text": "Q"})
    with pytest.raises(ParseError, match=r"record #0: its parent_id is 300 characters long"):
        parse(data, "exam.json")


def test_a_json_kind_over_the_limit_is_shortened_and_an_id_at_the_limit_is_kept() -> None:
    from indexflow.parsers import parse

    kind = "multiple_choice_question_with_an_image"  # 38 characters: a real-world style of kind
    parsed = parse(_records({"id": "i" * 200, "kind": kind, "text": "Pick one."}), "exam.json")
    [component] = parsed.components
    assert component.id == "i" * 200
    assert len(component.kind) == limits.COMPONENT_KIND_MAX and component.kind.startswith("multiple_choice")
    assert component.kind.endswith("…")


def test_an_over_long_json_id_fails_its_own_document_with_a_readable_error_while_the_others_embed(
    ix: Indexflow, tmp_path: Path
) -> None:
    # given a folder: a text file, a JSON tree with a too-long id, one with a too-long kind
    folder = tmp_path / "corpus"
    write_doc(folder / "trains.txt", TRAINS, paragraphs=2)
    (folder / "bad_id.json").write_bytes(_records({"id": "x" * 250, "text": "Question one"}))
    (folder / "long_kind.json").write_bytes(_records({"id": "q1", "kind": "k" * 40, "text": "Question two"}))
    # when the folder is ingested
    report = ix.ingest([str(folder)], dataset="docs", wait=True, timeout=120)
    # then the bad tree fails alone, saying which record, which field and which limit
    by_name = {Path(d.source).name: d for d in report.documents}
    bad = by_name["bad_id.json"]
    assert bad.status == "FAILED" and bad.error is not None
    assert "record #0: its id is 250 characters long, over the limit of 200" in bad.error
    assert by_name["trains.txt"].status == "EMBEDDED"
    assert by_name["long_kind.json"].status == "EMBEDDED"


# -- what the database refuses is permanent ---------------------------------------------------------
def _too_long_kind(*_: Any, **__: Any) -> None:
    raise DataError(
        "INSERT INTO components (version_id, seq, local_id, kind) VALUES (%(version_id__0)s, …)",
        [{"version_id__0": 1, "seq__0": 0, "local_id__0": "c0", "kind__0": "k" * 40}],
        Exception("value too long for type character varying(32)"),
    )


def test_a_data_error_in_a_background_unit_fails_the_plan_at_once_with_a_clean_message(
    ix: Indexflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given storing the parsed tree raises what PostgreSQL raises for a too-long kind
    from indexflow.db import documents as docs_repo

    calls: list[int] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        _too_long_kind()

    monkeypatch.setattr(docs_repo, "replace_components", refuse)
    # when a document is processed
    reg = ix.enqueue_source("notes.txt", dataset="docs", data=b"Some text.\n")
    [plan_id] = reg.plan_ids
    ix.wait([plan_id], timeout=30)
    # then the plan failed on the first try (no retries with backoff), saying what and where
    plan = ix.plans.get(plan_id)
    assert plan.status == "FAILED" and calls == [1]
    assert plan.last_error == "value too long for components.kind (40 characters, at most 32)"


def test_transaction_turns_refused_writes_into_indexflow_errors() -> None:
    from sqlalchemy.exc import IntegrityError

    from indexflow.db.session import refused

    # a value too long, found among the bound parameters of an UPDATE
    exc = DataError(
        "UPDATE documents SET title=%(title)s WHERE documents.id = %(documents_id)s",
        {"title": "t" * 612, "documents_id": 3},
        Exception("value too long for type character varying(500)"),
    )
    assert str(refused(exc)) == "value too long for documents.title (612 characters, at most 500)"
    # a NUL character
    nul = DataError("INSERT INTO datasets (name) VALUES (%(name)s)", {"name": "a\x00b"}, Exception("NUL"))
    assert str(refused(nul)) == "datasets.name cannot hold a NUL character"

    # a unique violation is a conflict (possibly a race), a NOT NULL one is invalid data
    class SqliteUnique(Exception):
        sqlite_errorname = "SQLITE_CONSTRAINT_UNIQUE"

    unique = IntegrityError("INSERT …", {}, SqliteUnique("UNIQUE constraint failed: datasets.x"))
    assert isinstance(refused(unique), WriteConflict)
    null = IntegrityError("INSERT INTO documents …", {}, Exception("NOT NULL constraint failed: documents.x"))
    assert isinstance(refused(null), InvalidData) and "documents.x" in str(refused(null))
