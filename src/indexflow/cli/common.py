"""Shared CLI plumbing: the facade from settings, JSON output, error exits."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from indexflow.errors import IndexflowError

console = Console()
err_console = Console(stderr=True)


@contextmanager
def facade() -> Iterator[Any]:
    """Build ``Indexflow`` from the environment; turn our errors into a readable exit 1/2."""
    from indexflow.service import Indexflow

    try:
        ix = Indexflow()
    except IndexflowError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    try:
        yield ix
    except IndexflowError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        ix.close()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
