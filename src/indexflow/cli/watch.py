"""``indexflow watch FOLDER``: keep a folder's documents in sync with a dataset as files change.

One sync ingest first, then one more each time the folder settles after changes (watchfiles
batches them, with a debounce). An unchanged file costs a ``stat``: its fingerprint (size and
mtime) says so without reading it; a deleted file's document is deactivated.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from indexflow.cli.common import console, err_console, facade
from indexflow.errors import ConfigurationError, IndexflowError

if TYPE_CHECKING:
    from indexflow.service import Indexflow
    from indexflow.views import IngestReport


def summary(report: IngestReport) -> str:
    """One line for a pass: how many documents were new, changed, deactivated, failed."""
    outcomes: dict[str, int] = {}
    for d in report.documents:
        key = "failed" if d.status == "FAILED" else (d.outcome or "failed")
        outcomes[key] = outcomes.get(key, 0) + 1
    parts = [
        f"{outcomes[k]} {k}" for k in ("new", "changed", "resumed", "unchanged", "failed") if outcomes.get(k)
    ]
    if report.deactivated:
        parts.append(f"{len(report.deactivated)} deactivated")
    return ", ".join(parts) or "nothing to index"


def watch_folder(
    ix: Indexflow,
    folder: Path,
    *,
    dataset: str = "default",
    metadata: Mapping[str, Any] | None = None,
    profiles: list[str] | None = None,
    debounce_ms: int = 1600,
    stop_event: threading.Event | None = None,
    max_batches: int | None = None,
    on_pass: Callable[[str, IngestReport], None] | None = None,
) -> int:
    """Sync ``folder`` into ``dataset`` now and after every batch of changes, until stopped.

    Args:
        stop_event: set it to end the loop (within the watcher's step, ~50 ms).
        max_batches: stop after this many change batches (None: never).
        on_pass: called after each pass with what started it ("initial" or the number of
            changes) and the report.

    Returns:
        The number of change batches handled.

    Raises:
        ConfigurationError: watchfiles is not installed (the message names the extra).
    """
    try:
        import watchfiles
    except ImportError as exc:
        raise ConfigurationError(
            f"indexflow watch needs the watch extra: pip install 'indexflow[watch]' ({exc})"
        ) from exc
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise ConfigurationError(f"{folder}: not a folder")

    def sync(trigger: str) -> None:
        report = ix.ingest(
            [str(folder)],
            dataset=dataset,
            metadata=metadata,
            profiles=profiles,
            sync=True,
            wait=ix.in_process,
        )
        if on_pass is not None:
            on_pass(trigger, report)

    # The first pass runs once the watcher is up (its first, empty, yield): a change made while
    # a pass runs, that first one included, is caught by the watcher and synced by the next pass.
    batches, started = 0, False
    for changes in watchfiles.watch(
        folder,
        debounce=debounce_ms,
        step=50,
        rust_timeout=500,
        yield_on_timeout=True,
        stop_event=stop_event,
        raise_interrupt=False,
    ):
        if not started:
            started = True
            sync("initial")
            if max_batches is not None and max_batches <= 0:
                break
            continue
        if not changes:
            continue
        batches += 1
        try:
            sync(f"{len(changes)} changes")
        except IndexflowError as exc:  # e.g. the database is briefly unavailable: next batch retries
            err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        if max_batches is not None and batches >= max_batches:
            break
    return batches


def watch(
    folder: Annotated[Path, typer.Argument(help="folder to keep in sync (recursively)")],
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="dataset (collection of documents)")
    ] = "default",
    profile: Annotated[
        list[str] | None, typer.Option(help="profile(s) to build; default: all active")
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", help="key=value metadata for every document (repeatable), as for ingest"),
    ] = None,
    debounce: Annotated[
        int, typer.Option(help="milliseconds of quiet before a batch of changes is synced")
    ] = 1600,
) -> None:
    """Keep FOLDER in sync with a dataset: ingest changed files, deactivate deleted ones; Ctrl-C stops."""
    from indexflow.domain.metadata import parse_cli_meta

    metadata = parse_cli_meta(meta or [])

    def show(trigger: str, report: IngestReport) -> None:
        stamp = time.strftime("%H:%M:%S")
        console.print(f"{stamp} {escape(trigger)}: {escape(summary(report))}", highlight=False)
        for d in report.failed:
            err_console.print(f"[red]FAILED[/red] {escape(d.source)}: {escape(str(d.error))}")

    with facade() as ix:
        console.print(f"watching {escape(str(folder))} → dataset {escape(dataset)} (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C mid-pass: what was committed stays
            watch_folder(
                ix,
                folder,
                dataset=dataset,
                metadata=metadata,
                profiles=profile,
                debounce_ms=debounce,
                on_pass=show,
            )
        console.print("stopped")
