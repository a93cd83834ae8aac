"""``indexflow chunks …``: list a plan's chunks, disable or enable one."""

from __future__ import annotations

import typer

from indexflow.cli.common import Json, emit, facade

app = typer.Typer(help="Chunks: list, disable, enable.", no_args_is_help=True)


@app.command("list")
def list_chunks(plan_id: int, json_out: Json = False) -> None:
    with facade() as ix:
        emit(
            ix.chunks.list(plan_id),
            json_out,
            ["chunk_id", "seq", "status", "enabled", "token_count", "char_start", "char_end", "text"],
        )


@app.command("disable")
def disable(chunk_id: int, json_out: Json = False) -> None:
    """Hide one chunk from search (no re-embedding)."""
    with facade() as ix:
        emit(ix.chunks.disable(chunk_id), json_out)


@app.command("enable")
def enable(chunk_id: int, json_out: Json = False) -> None:
    with facade() as ix:
        emit(ix.chunks.enable(chunk_id), json_out)
