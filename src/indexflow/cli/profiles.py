"""``indexflow profiles …``: index profiles (encoder, tokenizer, chunking, HNSW)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from indexflow.cli.common import Json, Wait, emit, facade
from indexflow.views import ProfileActivation

app = typer.Typer(help="Index profiles: encoder, tokenizer, chunking, HNSW.", no_args_is_help=True)

ChunkSize = Annotated[int | None, typer.Option(help="tokens per chunk")]
Overlap = Annotated[int | None, typer.Option(help="overlap in tokens")]
Target = Annotated[int | None, typer.Option(help="bundle budget in tokens")]
Encoder = Annotated[str | None, typer.Option(help="encoder model id or folder")]
Dim = Annotated[int | None, typer.Option(help="vector dimension")]


def _params(
    chunk_size: int | None,
    chunk_overlap: int | None,
    target_bundle_tokens: int | None,
    encoder: str | None,
    dimension: int | None,
) -> dict[str, Any]:
    """The profile parameters given on the command line (a new encoder brings its own tokenizer)."""
    return {
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "target_bundle_tokens": target_bundle_tokens,
        "encoder": encoder,
        "tokenizer": encoder,
        "dimension": dimension,
    }


@app.command("list")
def list_profiles(json_out: Json = False) -> None:
    with facade() as ix:
        emit(ix.profiles.list(), json_out)


@app.command("create")
def create(
    name: str,
    chunk_size: ChunkSize = None,
    chunk_overlap: Overlap = None,
    target_bundle_tokens: Target = None,
    encoder: Encoder = None,
    dimension: Dim = None,
    activate: Annotated[bool, typer.Option(help="activate and build it now")] = False,
    wait: Wait = True,
    json_out: Json = False,
) -> None:
    """Create a profile (defaults: the MiniLM profile) — inactive unless --activate."""
    with facade() as ix:
        out = ix.profiles.create(
            name,
            activate=activate,
            **_params(chunk_size, chunk_overlap, target_bundle_tokens, encoder, dimension),
        )
        if wait and isinstance(out, ProfileActivation) and out.plan_ids:
            ix.wait(out.plan_ids)
        emit(out, json_out)


@app.command("clone")
def clone(
    source: str,
    name: str,
    chunk_size: ChunkSize = None,
    chunk_overlap: Overlap = None,
    target_bundle_tokens: Target = None,
    encoder: Encoder = None,
    dimension: Dim = None,
    json_out: Json = False,
) -> None:
    """Copy a profile with changes (profiles with plans are immutable: clone to change)."""
    with facade() as ix:
        out = ix.profiles.clone(
            source, name, **_params(chunk_size, chunk_overlap, target_bundle_tokens, encoder, dimension)
        )
        emit(out, json_out)


@app.command("activate")
def activate(name: str, wait: Wait = True, json_out: Json = False) -> None:
    """Activate: plans are built for every active document while older profiles keep serving."""
    with facade() as ix:
        out = ix.profiles.activate(name)
        if wait and out.plan_ids:
            ix.wait(out.plan_ids)
        emit(out, json_out)


@app.command("deactivate")
def deactivate(name: str, json_out: Json = False) -> None:
    with facade() as ix:
        emit(ix.profiles.deactivate(name), json_out)
