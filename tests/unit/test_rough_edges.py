"""Rough edges a new user hits in the library and the API: NULs, parser noise, names, the default."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from indexflow.errors import InvalidRequest
from indexflow.parsers import parse
from indexflow.parsers.base import clean_text

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from indexflow.service import Indexflow
    from indexflow.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "docs"


@pytest.fixture
def ix(settings: Settings) -> Iterator[Indexflow]:
    from indexflow import Indexflow
    from indexflow.testing import HashEncoder, MemoryStore

    with Indexflow(settings, store=MemoryStore(), encoder=HashEncoder()) as instance:
        yield instance


# -- NUL bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("grazing\x00end", "grazing end"),
        ("two\x00\x00\x00nuls", "two nuls"),
        ("before \x00after", "before after"),
        ("trailing\x00", "trailing"),
        ("\x00leading", "leading"),
    ],
)
def test_a_nul_between_words_becomes_a_space(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_text_interleaved_with_nuls_loses_them() -> None:
    wide = "\x00".join("a wide encoding read byte by byte") + "\x00"
    assert clean_text(wide) == "a wide encoding read byte by byte"


def test_a_parsed_document_keeps_words_apart_at_a_nul() -> None:
    parsed = parse(b"cattle grazing\x00end of season\n", "nul.txt")
    assert [c.text for c in parsed.components] == ["cattle grazing end of season"]


# -- pypdf's warnings -------------------------------------------------------------------------


def _damaged_pdf() -> bytes:
    """A PDF whose startxref points nowhere: pypdf recovers and logs a warning about it."""
    data = (FIXTURES / "tomato_guide.pdf").read_bytes()
    m = list(re.finditer(rb"startxref\s+(\d+)", data))[-1]
    return data[: m.start(1)] + b"9" * len(m.group(1)) + data[m.end(1) :]


def _unconfigured_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logging as a plain CLI run has it: no handler of ours on the root logger (an earlier test
    in the same process may have installed one with ``configure_logging``); pytest's stay."""
    root = logging.getLogger()
    kept = [h for h in root.handlers if type(h).__module__.startswith("_pytest")]
    monkeypatch.setattr(root, "handlers", kept)
    monkeypatch.setattr(root, "level", logging.WARNING)


def test_pypdf_warnings_go_to_our_log_not_stderr(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unconfigured_logging(monkeypatch)
    caplog.set_level("DEBUG", logger="indexflow.parsers.pdf")
    parsed = parse(_damaged_pdf(), "damaged.pdf")
    assert parsed.components
    _, err = capfd.readouterr()
    assert "startxref" not in err and err == ""
    assert any("pypdf" in r.getMessage() and r.name == "indexflow.parsers.pdf" for r in caplog.records)


def test_pypdf_warnings_do_not_leak_to_stderr_during_ingest(
    ix: Indexflow, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _unconfigured_logging(monkeypatch)
    pdf = tmp_path / "damaged.pdf"
    pdf.write_bytes(_damaged_pdf())
    report = ix.ingest([str(pdf)], dataset="docs", wait=True, timeout=300)
    assert report.counts == {"EMBEDDED": 1}
    _, err = capfd.readouterr()
    assert "startxref" not in err and "Object Streams" not in err


# -- dataset names on every entry -------------------------------------------------------------

BAD_NAMES = ["", "d" * 300]


@pytest.mark.parametrize("name", BAD_NAMES, ids=["empty", "300 chars"])
def test_the_library_refuses_a_bad_dataset_name(ix: Indexflow, tmp_path: Path, name: str) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("some text\n")
    with pytest.raises(InvalidRequest, match="dataset"):
        ix.ingest([str(doc)], dataset=name)
    with pytest.raises(InvalidRequest, match="dataset"):
        ix.enqueue_source(str(doc), dataset=name)
    assert ix.documents.datasets() == []


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from fastapi.testclient import TestClient

    from indexflow.api.app import create_app
    from indexflow.testing import HashEncoder, MemoryStore

    app = create_app(settings, store=MemoryStore(), encoder=HashEncoder())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_the_api_refuses_a_bad_dataset_name(client: TestClient) -> None:
    long = "d" * 300
    files = {"file": ("a.txt", b"some text\n", "text/plain")}
    assert client.post(f"/v1/datasets/{long}/documents", files=files).status_code == 422
    assert client.post("/v1/datasets//documents", files=files).status_code in (404, 405, 422)
    for name in BAD_NAMES:
        assert client.post("/v1/search", json={"query": "x", "dataset": name}).status_code == 422
    assert client.get("/v1/documents").json()["documents"] == []


# -- the default profile ----------------------------------------------------------------------


def test_profiles_list_marks_the_profile_search_uses(ix: Indexflow, tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("some text about bees\n")
    ix.ingest([str(doc)], dataset="docs", wait=True, timeout=300)
    ix.profiles.create("small", chunk_size=64, activate=True)
    # nothing was marked with set_default: the setting's profile is the one search uses
    assert {p.name: p.is_default for p in ix.profiles.list()} == {"default": True, "small": False}
    assert ix.profiles.get("default").is_default
    ix.profiles.set_default("small")
    assert {p.name: p.is_default for p in ix.profiles.list()} == {"default": False, "small": True}


MOVED = "search now uses {!r}; make another the default with `indexflow profiles default NAME`"


def _plan_ids(ix: Indexflow, profile: str) -> set[int]:
    from sqlalchemy import select

    from indexflow.db.models import ChunkPlan, IndexProfile

    with ix.rt.sessions() as s:
        query = select(ChunkPlan.id).join(IndexProfile).where(IndexProfile.name == profile)
        return set(s.scalars(query))


def _small(ix: Indexflow, tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("some text about bees and their hives\n")
    ix.ingest([str(doc)], dataset="docs", wait=True, timeout=300)
    ix.profiles.create("small", chunk_size=64)
    activation = ix.profiles.activate("small")
    ix.wait(activation.plan_ids, timeout=300)


def test_deactivating_the_default_moves_search_to_another_profile_and_says_which(
    ix: Indexflow, tmp_path: Path
) -> None:
    _small(ix, tmp_path)
    assert {h.plan_id for h in ix.search("bees", dataset="docs")} <= _plan_ids(ix, "default")
    # when the profile search uses is deactivated, search moves to the other active profile
    out = ix.profiles.deactivate("default")
    assert not out.is_active and not out.is_default
    assert out.search_default == "small" and out.note == MOVED.format("small")
    assert {p.name: p.is_default for p in ix.profiles.list()} == {"default": False, "small": True}
    default = ix.profiles.default()
    assert default is not None and default.name == "small"
    hits = ix.search("bees", dataset="docs")
    assert hits and {h.plan_id for h in hits} <= _plan_ids(ix, "small")
    # re-activating the old one does not move search back: "small" is marked the default now
    ix.profiles.activate("default")
    assert [p.name for p in ix.profiles.list() if p.is_default] == ["small"]
    # deactivating a profile search does not use changes nothing and names the one it uses
    spare = ix.profiles.deactivate("default")
    assert spare.search_default == "small" and spare.note == "search without a profile uses 'small'"


def test_deactivating_a_marked_default_moves_search_back_to_the_settings_profile(
    ix: Indexflow, tmp_path: Path
) -> None:
    _small(ix, tmp_path)
    # "newest" is the newest active profile, but the setting names "default"
    ix.profiles.create("newest", chunk_size=48, chunk_overlap=8, activate=True)
    ix.profiles.set_default("small")
    out = ix.profiles.deactivate("small")
    assert out.search_default == "default" and out.note == MOVED.format("default")
    assert [p.name for p in ix.profiles.list() if p.is_default] == ["default"]


def test_search_moves_to_the_newest_profile_that_serves_documents(ix: Indexflow, tmp_path: Path) -> None:
    from indexflow.db.models import IndexProfile

    _small(ix, tmp_path)
    # "empty" is newer and active but has no plans: search would find nothing in it
    ix.profiles.create("empty", chunk_size=48, chunk_overlap=8)
    with ix.rt.sessions.begin() as s:
        s.query(IndexProfile).filter(IndexProfile.name == "empty").update({"is_active": True})
    out = ix.profiles.deactivate("default")
    assert out.search_default == "small"
    assert ix.search("bees", dataset="docs")
    # once "small" goes too, the only active profile is the one left
    assert ix.profiles.deactivate("small").search_default == "empty"


# -- retired plans and deactivated documents ---------------------------------------------------


def test_retired_and_deactivated_plans_show_their_own_state(ix: Indexflow, tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("first version about bees\n")
    [v1] = ix.ingest([str(doc)], dataset="docs", wait=True, timeout=300).documents
    assert [p.state for p in v1.plans] == ["EMBEDDED"]
    # when a new version is swapped in, the old plan reads RETIRED (its status stays READY)
    doc.write_text("second version about trains\n")
    ix.ingest([str(doc)], dataset="docs", wait=True, timeout=300)
    old = ix.plans.get(v1.plans[0].plan_id)
    assert (old.status, old.state, old.is_active) == ("READY", "RETIRED", False)
    # when the document is deactivated, its plans read DEACTIVATED (their status is FAILED)
    assert v1.document_id is not None
    ix.documents.deactivate(v1.document_id)
    shown = ix.documents.get(v1.document_id)
    assert [(p.status, p.state) for p in shown.plans] == [("FAILED", "DEACTIVATED")] * 2
    # and a failure of its own still reads FAILED
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really")
    [failed] = ix.ingest([str(broken)], dataset="docs", wait=True, timeout=300).documents
    assert [(p.status, p.state) for p in failed.plans] == [("FAILED", "FAILED")]
