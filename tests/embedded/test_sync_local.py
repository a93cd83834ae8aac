"""Local folders that stay in sync: unchanged files skipped unread, ``sync`` deactivates the gone.

On the real stack (the embedded default). "Unread" is observed by counting calls of
``Source.read``, the one place a listed source's bytes are read (running as root, a chmod 000
would not stop a read).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from indexflow.service import Indexflow
from indexflow.sources.local import Source


def _write(path: Path, text: str, age: float = 60.0) -> Path:
    """Write ``text``, its mtime ``age`` seconds ago (a fresh file is read anyway: racily clean)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources whose bytes were read, in order."""
    seen: list[str] = []
    real = Source.read

    def counting(self: Source, max_bytes: int, policy: Any = None) -> bytes:
        seen.append(self.source)
        return real(self, max_bytes, policy)

    monkeypatch.setattr(Source, "read", counting)
    return seen


def test_unchanged_files_are_skipped_without_being_read(
    tmp_path: Path, ix: Indexflow, reads: list[str]
) -> None:
    folder = tmp_path / "notes"
    a = _write(folder / "a.txt", "Otters hold hands while they sleep.\n")
    b = _write(folder / "sub" / "b.md", "# Bread\n\nA sourdough starter needs daily feeding.\n")
    first = ix.ingest([str(folder)], dataset="docs")
    assert [d.outcome for d in first.documents] == ["new", "new"] and first.counts == {"EMBEDDED": 2}
    assert reads == [str(a.resolve()), str(b.resolve())]

    # when the folder is ingested again, nothing having changed
    reads.clear()
    again = ix.ingest([str(folder)], dataset="docs")
    # then nothing is read, and the report still gives each document's plans
    assert reads == []
    assert [d.outcome for d in again.documents] == ["unchanged", "unchanged"]
    assert again.plan_ids == first.plan_ids and again.counts == {"EMBEDDED": 2}

    # when one file changes (size and mtime)
    _write(b, "# Bread\n\nRye dough is sticky; wet hands help when shaping it.\n", age=30.0)
    changed = ix.ingest([str(folder)], dataset="docs")
    # then only it is read, and it is a new version
    assert reads == [str(b.resolve())]
    assert [d.outcome for d in changed.documents] == ["unchanged", "changed"]
    assert ix.search("shaping sticky rye dough", dataset="docs", k=1)[0].document.source == str(b.resolve())

    # when the metadata given changes, the same files are read again: metadata is part of a version
    reads.clear()
    tagged = ix.ingest([str(folder)], dataset="docs", metadata={"team": "kitchen"})
    assert sorted(reads) == sorted([str(a.resolve()), str(b.resolve())])
    assert [d.outcome for d in tagged.documents] == ["changed", "changed"]
    reads.clear()
    ix.ingest([str(folder)], dataset="docs", metadata={"team": "kitchen"})
    assert reads == []


def test_a_file_modified_just_now_is_read_even_if_its_look_matches(
    tmp_path: Path, ix: Indexflow, reads: list[str]
) -> None:
    # given a file ingested within the same clock tick as its last write (racily clean)
    fresh = tmp_path / "docs" / "fresh.txt"
    fresh.parent.mkdir()
    fresh.write_text("Comets have two tails.\n")
    ix.ingest([str(fresh.parent)], dataset="docs")
    reads.clear()
    # then the next ingest reads it (same size and mtime prove nothing yet) and finds it unchanged
    report = ix.ingest([str(fresh.parent)], dataset="docs")
    assert reads == [str(fresh.resolve())] and [d.outcome for d in report.documents] == ["unchanged"]


def test_sync_deactivates_the_documents_of_deleted_files_under_the_folder_only(
    tmp_path: Path, ix: Indexflow
) -> None:
    folder = tmp_path / "docs"
    keep = _write(folder / "keep.txt", "Penguins live in the southern hemisphere.\n")
    gone = _write(folder / "old" / "gone.md", "# Volcanoes\n\nBasalt forms from cooling lava.\n")
    sibling = _write(tmp_path / "docs-archive" / "sibling.txt", "A folder whose name starts alike.\n")
    elsewhere = _write(tmp_path / "single.txt", "A file ingested on its own.\n")
    ix.ingest([str(folder), str(sibling.parent), str(elsewhere)], dataset="docs")
    assert ix.search("basalt lava", dataset="docs", k=1)[0].document.source == str(gone.resolve())

    # given a file deleted from the folder
    gone.unlink()
    # when the folder is ingested without sync, its document stays
    assert ix.ingest([str(folder)], dataset="docs").deactivated == []
    # when it is ingested with sync
    report = ix.ingest([str(folder)], dataset="docs", sync=True)
    # then that document (and only it) is deactivated and out of search
    assert report.deactivated == [str(gone.resolve())]
    active = {Path(d.source).name: d.is_active for d in ix.documents.list(dataset="docs")}
    assert active == {"keep.txt": True, "gone.md": False, "sibling.txt": True, "single.txt": True}
    assert all(
        h.document.source != str(gone.resolve()) for h in ix.search("basalt lava", dataset="docs", k=5)
    )
    assert keep.exists()

    # when the file comes back, an ingest brings its document back
    _write(gone, "# Volcanoes\n\nBasalt forms from cooling lava.\n")
    back = ix.ingest([str(folder)], dataset="docs", sync=True)
    assert back.deactivated == [] and {d.outcome for d in back.documents} == {"unchanged", "changed"}
    assert ix.search("basalt lava", dataset="docs", k=1)[0].document.source == str(gone.resolve())


def test_sync_deactivates_nothing_for_a_folder_it_could_not_list(tmp_path: Path, ix: Indexflow) -> None:
    folder = tmp_path / "docs"
    _write(folder / "a.txt", "Hedgehogs eat beetles.\n")
    ix.ingest([str(folder)], dataset="docs")
    # given the folder moved away (a missing mount looks the same)
    shutil.move(folder, tmp_path / "moved")
    # when it is synced
    report = ix.ingest([str(folder)], dataset="docs", sync=True)
    # then the listing's failure is reported and no document is deactivated
    assert report.deactivated == [] and "no such file or folder" in str(report.failed[0].error)
    assert [d.is_active for d in ix.documents.list(dataset="docs")] == [True]


def test_cli_ingest_sync_says_how_many_documents_it_deactivated(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    folder = tmp_path / "docs"
    _write(folder / "a.txt", "Owls turn their heads far around.\n")
    b = _write(folder / "b.txt", "Moss grows on the shaded side.\n")
    cli("ingest", str(folder), "-d", "docs")
    b.unlink()
    out = cli("ingest", str(folder), "-d", "docs", "--sync").output
    assert "deactivated 1 documents whose source is gone" in out
    assert "(1 unchanged)" in out
    # every file gone: nothing to ingest is not an error when the sync took documents out
    (folder / "a.txt").unlink()
    out = cli("ingest", str(folder), "-d", "docs", "--sync").output
    assert "deactivated 1 documents whose source is gone" in out
