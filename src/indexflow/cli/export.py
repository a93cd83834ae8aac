"""``indexflow export``: a dataset's searchable chunks as JSONL or Parquet."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from indexflow.cli.common import err_console, facade


def export(
    dataset: Annotated[str, typer.Argument(help="the dataset to export")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl or parquet")] = "jsonl",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="file to write (default: JSONL on stdout)")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="the profile's chunks (default: the one search uses)")
    ] = None,
    vectors: Annotated[
        bool, typer.Option("--vectors/--no-vectors", help="add each chunk's stored vector")
    ] = False,
) -> None:
    """Export the chunks search can show: text, span, bundle title and paths, document source,
    title and id, and with --vectors the stored vectors (rows are streamed: memory stays flat)."""
    if fmt not in ("jsonl", "parquet"):
        err_console.print(f"[red]error:[/red] --format must be jsonl or parquet, not {fmt!r}", markup=False)
        raise typer.Exit(2)
    if fmt == "parquet" and out is None:
        err_console.print("[red]error:[/red] parquet is written to a file: add --out FILE")
        raise typer.Exit(2)
    with facade() as ix:
        if vectors and not ix.export.vectors_readable:
            err_console.print(
                "[yellow]note:[/yellow] this vector store cannot hand stored vectors back: "
                "exporting without vectors"
            )
            vectors = False
        n = ix.export.write(
            dataset, sys.stdout if out is None else out, fmt=fmt, profile=profile, vectors=vectors
        )
        where = "stdout" if out is None else str(out)
        err_console.print(
            f"{n} chunks of dataset {dataset} written to {where}" + (" with vectors" if vectors else ""),
            markup=False,
        )
