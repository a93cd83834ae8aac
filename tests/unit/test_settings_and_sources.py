"""Settings come from the environment (spec names included); sources expand folders and URIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexflow.errors import InputTooLarge, NotFound
from indexflow.settings import Settings, mask_url
from indexflow.sources import basename, expand


def test_settings_read_the_spec_names_and_indexflow_prefixed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXING_EMBED_BATCH_SIZE", "7")
    monkeypatch.setenv("INDEXING_MAX_EMBED_RETRIES", "2")
    monkeypatch.setenv("INDEXING_PLAN_QUEUE", "p")
    monkeypatch.setenv("INDEXING_EMBED_QUEUE", "e")
    monkeypatch.setenv("QDRANT_URL", "http://q:6333")
    monkeypatch.setenv("QDRANT_TIMEOUT", "3.5")
    monkeypatch.setenv("INDEXFLOW_VECTOR_STORE", "pgvector")
    monkeypatch.setenv("INDEXFLOW_BROKER_URL", "redis://localhost:6379/0")
    s = Settings()
    assert (s.embed_batch_size, s.max_embed_retries, s.plan_queue, s.embed_queue) == (7, 2, "p", "e")
    assert (s.qdrant_url, s.qdrant_timeout, s.vector_store) == ("http://q:6333", 3.5, "pgvector")
    assert s.broker_url == "redis://localhost:6379/0"


def test_an_invalid_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXFLOW_VECTOR_STORE", "elasticsearch")
    with pytest.raises(ValueError, match="vector_store"):
        Settings()


def test_config_masks_secrets_and_url_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret")
    monkeypatch.setenv("INDEXFLOW_DATABASE_URL", "postgresql+psycopg://app:hunter2@db:5432/ix")
    monkeypatch.setenv("INDEXFLOW_BROKER_URL", "amqp://guest:guest@mq:5672/")
    shown = str(Settings().masked())
    assert "s3cret" not in shown and "hunter2" not in shown and "guest:guest" not in shown
    assert "postgresql+psycopg://app:****@db:5432/ix" in shown
    assert mask_url("redis://localhost:6379/0") == "redis://localhost:6379/0"


def test_the_embedded_default_keeps_its_state_under_home(tmp_path: Path) -> None:
    s = Settings(home=tmp_path / "h")
    assert s.effective_database_url == f"sqlite:///{(tmp_path / 'h' / 'indexflow.db').resolve()}"
    assert s.vector_path == tmp_path / "h" / "vectors"


def test_a_folder_expands_recursively_skipping_hidden_and_unknown_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    for name in ("a/x.md", "a/b/y.pdf", "a/b/z.exe", ".git/config.txt", "a/.hidden.txt", "top.html"):
        (tmp_path / name).write_text("x")
    found = sorted(Path(s.source).relative_to(tmp_path).as_posix() for s in expand([tmp_path]))
    assert found == ["a/b/y.pdf", "a/x.md", "top.html"]


def test_a_missing_path_is_a_clear_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        list(expand([tmp_path / "nope"]))


def test_an_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2048)
    [src] = list(expand([big]))
    with pytest.raises(InputTooLarge, match="over the 1024-byte limit"):
        src.read(1024)


def test_uri_sources_read_through_fsspec(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("hello from a URI")
    [src] = list(expand([f"file://{doc}"]))
    assert src.read(10_000) == b"hello from a URI"
    # a URI is listed before it is read: a missing object is not found at once
    with pytest.raises(NotFound):
        list(expand(["memory://bucket/missing.txt"]))


def test_facade_overrides_are_validated_like_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from indexflow import Indexflow

    monkeypatch.setenv("QDRANT_API_KEY", "k3y")
    monkeypatch.setenv("INDEXING_EMBED_BATCH_SIZE", "9")
    with Indexflow(home=str(tmp_path / "h"), lease_seconds="30") as ix:
        assert ix.settings.home == tmp_path / "h" and ix.settings.lease_seconds == 30
        assert ix.settings.embed_batch_size == 9
        assert (
            ix.settings.qdrant_api_key is not None and ix.settings.qdrant_api_key.get_secret_value() == "k3y"
        )


def test_a_folder_walk_lists_the_files_it_skipped(tmp_path: Path) -> None:
    (tmp_path / "deck.pptx").write_bytes(b"PK")
    (tmp_path / "notes.md").write_text("# notes")
    skipped: list[str] = []
    found = [Path(s.source).name for s in expand([tmp_path], skipped)]
    assert found == ["notes.md"] and [Path(p).name for p in skipped] == ["deck.pptx"]


def test_a_folder_walk_picks_up_every_registered_extension(tmp_path: Path) -> None:
    for name in ("a.mkd", "b.rst", "c.csv", "d.adoc", "e.xhtml", "f.pptx"):
        (tmp_path / name).write_text("x")
    skipped: list[str] = []
    found = [s.filename for s in expand([tmp_path], skipped)]
    assert found == ["a.mkd", "b.rst", "c.csv", "d.adoc", "e.xhtml"]
    assert [Path(p).name for p in skipped] == ["f.pptx"]


def test_basename_is_the_last_segment_of_a_path_or_uri() -> None:
    assert basename("/srv/docs/guide.md") == "guide.md"
    assert basename("s3://bucket/docs/") == "docs"
    assert basename("guide.md") == "guide.md"
    import fsspec

    with fsspec.open("memory://bucket/dir/notes.txt", "wb") as fh:
        fh.write(b"notes")
    [uri] = list(expand(["memory://bucket/dir/notes.txt"]))
    assert uri.filename == "notes.txt" and uri.read(100) == b"notes"
