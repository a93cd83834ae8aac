"""``indexflow watch``: the loop driven by real file changes (watchfiles on this folder)."""

from __future__ import annotations

import queue
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexflow.cli.watch import watch_folder
from indexflow.errors import ConfigurationError
from indexflow.service import Indexflow
from indexflow.views import IngestReport


def _next_pass(passes: queue.Queue[tuple[str, IngestReport]], want: str, timeout: float = 60) -> IngestReport:
    """The next pass whose report has a document with outcome ``want`` (or deactivated ones)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no pass with {want!r} within {timeout} s")
        _trigger, report = passes.get(timeout=left)
        if want == "deactivated" and report.deactivated:
            return report
        if any(d.outcome == want for d in report.documents):
            return report


def test_watch_ingests_new_and_changed_files_and_deactivates_deleted_ones(
    tmp_path: Path, ix: Indexflow
) -> None:
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "first.txt").write_text("Kestrels hover while hunting.\n")
    passes: queue.Queue[tuple[str, IngestReport]] = queue.Queue()
    stop = threading.Event()
    result: list[int] = []

    def loop() -> None:
        result.append(
            watch_folder(
                ix,
                folder,
                dataset="docs",
                debounce_ms=200,
                stop_event=stop,
                on_pass=lambda trigger, report: passes.put((trigger, report)),
            )
        )

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        # the initial pass ingests what is there
        trigger, initial = passes.get(timeout=120)
        assert trigger == "initial" and [d.outcome for d in initial.documents] == ["new"]
        # (the first pass runs once the watcher is up: what changes from here on is seen)

        # a new file is ingested
        (folder / "sub").mkdir()
        (folder / "sub" / "second.md").write_text("# Tides\n\nSpring tides come with the new moon.\n")
        added = _next_pass(passes, "new")
        assert {Path(d.source).name for d in added.documents if d.outcome == "new"} == {"second.md"}
        assert ix.search("spring tides new moon", dataset="docs", k=1)[0].document.source.endswith(
            "second.md"
        )

        # a changed file becomes a new version
        (folder / "first.txt").write_text("Kestrels hover into the wind before they drop on a vole.\n")
        changed = _next_pass(passes, "changed")
        assert [Path(d.source).name for d in changed.documents if d.outcome == "changed"] == ["first.txt"]

        # a deleted file's document is deactivated
        (folder / "sub" / "second.md").unlink()
        gone = _next_pass(passes, "deactivated")
        assert [Path(s).name for s in gone.deactivated] == ["second.md"]
        active = {Path(d.source).name: d.is_active for d in ix.documents.list(dataset="docs")}
        assert active == {"first.txt": True, "second.md": False}
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and result and result[0] >= 3


def test_watch_without_watchfiles_names_the_extra(
    tmp_path: Path, ix: Indexflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # import watchfiles → ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'indexflow\[watch\]'"):
        watch_folder(ix, tmp_path, max_batches=0)
    # and the CLI says the same and exits 1
    monkeypatch.setenv("INDEXFLOW_HOME", str(tmp_path / "home"))
    from indexflow.cli.main import app

    result = CliRunner().invoke(app, ["watch", str(tmp_path)])
    assert result.exit_code == 1 and "indexflow[watch]" in result.output


def test_the_watch_command_syncs_prints_a_line_per_pass_and_exits_0_on_ctrl_c(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess

    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "a.txt").write_text("Swifts sleep on the wing.\n")
    env = os.environ | {"INDEXFLOW_HOME": str(tmp_path / "home"), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "indexflow.cli.main", "watch", str(folder), "-d", "docs", "--debounce", "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []

    def until(needle: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not any(needle in line for line in seen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {needle!r}:\n{''.join(seen)}")
            try:
                seen.append(lines.get(timeout=left))
            except queue.Empty:
                continue

    try:
        until("initial: 1 new")
        (folder / "b.txt").write_text("Terns migrate from pole to pole.\n")
        until("changes: 1 new")
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    while not lines.empty():
        seen.append(lines.get())
    assert proc.returncode == 0, "".join(seen)
    assert any(line.strip() == "stopped" for line in seen), "".join(seen)
