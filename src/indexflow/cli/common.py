"""Shared CLI plumbing: the facade from settings, JSON output, error exits."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from indexflow.errors import IndexflowError
from indexflow.views import View

if TYPE_CHECKING:
    from indexflow.service import Indexflow

# No automatic highlighting: its regexes cost a tenth of a second to compile in every command.
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

Json = Annotated[bool, typer.Option("--json", help="print JSON")]
DatasetFilter = Annotated[str | None, typer.Option("--dataset", "-d", help="only this dataset")]
# The embedded default runs its worker inside this process: work still queued when the command
# exits is only picked up by a later sweep, so commands that start work follow it by default.
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="follow the work it starts until done")]


@contextmanager
def facade() -> Iterator[Indexflow]:
    """Build ``Indexflow`` from the environment; turn our errors into a readable exit 1/2."""
    from indexflow.service import Indexflow

    try:
        ix = Indexflow()
    except IndexflowError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    try:
        yield ix
    except IndexflowError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    finally:
        ix.close()


def plain(data: Any) -> Any:
    """Views (and lists of them) as JSON-ready data."""
    if isinstance(data, View):
        return data.to_dict()
    if isinstance(data, list):
        return [plain(d) for d in data]
    return data


def emit(data: Any, json_out: bool, columns: list[str] | None = None) -> None:
    """Print a view or a list of views: JSON with ``--json``, else a table of ``columns``."""
    data = plain(data)
    if json_out:
        print_json(data)
        return
    rows = data if isinstance(data, list) else [data]
    if not rows:
        console.print("nothing")
        return
    cols = columns or [k for k, v in rows[0].items() if not isinstance(v, list | dict)]
    table = Table(*cols)
    for row in rows:
        table.add_row(*[escape(("" if row.get(c) is None else str(row.get(c)))[:80]) for c in cols])
    console.print(table)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(plain(data), indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
