"""``indexflow profiles …``: index profiles (encoder, tokenizer, chunking, HNSW)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from indexflow.cli.common import Json, Wait, console, emit, facade, print_json
from indexflow.views import GateResult, ProfileActivation

app = typer.Typer(help="Index profiles: encoder, tokenizer, chunking, HNSW.", no_args_is_help=True)

ChunkSize = Annotated[int | None, typer.Option(help="tokens per chunk")]
Overlap = Annotated[int | None, typer.Option(help="overlap in tokens")]
Target = Annotated[int | None, typer.Option(help="bundle budget in tokens")]
Encoder = Annotated[str | None, typer.Option(help="encoder model id or folder")]
Dim = Annotated[int | None, typer.Option(help="vector dimension")]
Lexical = Annotated[
    bool | None,
    typer.Option("--lexical/--no-lexical", help="also build a BM25 leg (search defaults to hybrid)"),
]
Template = Annotated[
    str | None,
    typer.Option(
        "--context-template",
        help='header embedded before each chunk, e.g. "{title}\\n{section}" '
        '(names {title}, {section}, {source}; "" for none)',
    ),
]


def _params(
    chunk_size: int | None,
    chunk_overlap: int | None,
    target_bundle_tokens: int | None,
    encoder: str | None,
    dimension: int | None,
    lexical: bool | None = None,
    context_template: str | None = None,
) -> dict[str, Any]:
    """The profile parameters given on the command line (a new encoder brings its own tokenizer)."""
    if context_template is not None:
        context_template = context_template.replace("\\n", "\n")  # "\n" typed in a shell
    return {
        "lexical": lexical,
        "context_template": context_template,
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "target_bundle_tokens": target_bundle_tokens,
        "encoder": encoder,
        "tokenizer": encoder,
        "dimension": dimension,
    }


@app.command("list")
def list_profiles(json_out: Json = False) -> None:
    """Every profile; the one search uses when none is named is marked in the "default" column."""
    with facade() as ix:
        views = ix.profiles.list()
        if json_out or not views:
            emit(views, json_out)
            return
        rows = [v.to_dict() | {"is_default": "*" if v.is_default else ""} for v in views]
        keys = [k for k, v in rows[0].items() if not isinstance(v, list | dict) and k != "is_default"]
        at = keys.index("name") + 1
        emit(rows, False, [*keys[:at], "is_default", *keys[at:]])
        console.print("[dim]is_default * = the profile search uses when none is named[/dim]")


@app.command("create")
def create(
    name: str,
    chunk_size: ChunkSize = None,
    chunk_overlap: Overlap = None,
    target_bundle_tokens: Target = None,
    encoder: Encoder = None,
    dimension: Dim = None,
    lexical: Lexical = None,
    context_template: Template = None,
    activate: Annotated[bool, typer.Option(help="activate and build it now")] = False,
    wait: Wait = True,
    json_out: Json = False,
) -> None:
    """Create a profile (defaults: the MiniLM profile) — inactive unless --activate."""
    with facade() as ix:
        out = ix.profiles.create(
            name,
            activate=activate,
            **_params(
                chunk_size, chunk_overlap, target_bundle_tokens, encoder, dimension, lexical, context_template
            ),
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
    lexical: Lexical = None,
    context_template: Template = None,
    json_out: Json = False,
) -> None:
    """Copy a profile with changes (profiles with plans are immutable: clone to change)."""
    with facade() as ix:
        params = _params(
            chunk_size, chunk_overlap, target_bundle_tokens, encoder, dimension, lexical, context_template
        )
        out = ix.profiles.clone(source, name, **params)
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
    """New documents get no plan of it; says which profile a search without --profile uses now."""
    with facade() as ix:
        out = ix.profiles.deactivate(name)
        emit(out, json_out)
        if not json_out and out.note:
            console.print(out.note, markup=False, highlight=False)


@app.command("default")
def default(
    name: Annotated[str | None, typer.Argument(help="profile to make the default (omit: show it)")] = None,
    gate: Annotated[
        Path | None,
        typer.Option(help="judged queries (JSONL or BEIR): switch only if the candidate is no worse"),
    ] = None,
    margin: Annotated[float, typer.Option(help="how much worse any of hit@K, MRR@K, nDCG@K may be")] = 0.01,
    k: Annotated[int, typer.Option("-k", help="cut-off K of the gate's figures")] = 10,
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset the gate searches")] = "default",
    timeout: Annotated[float | None, typer.Option(help="seconds to wait for the candidate's plans")] = None,
    json_out: Json = False,
) -> None:
    """Show or set the profile search uses when none is named; --gate evaluates before switching."""
    with facade() as ix:
        if name is None:
            current = ix.profiles.default()
            if current is None:
                raise typer.BadParameter("no profile yet: ingest documents first")
            emit(current, json_out)
            return
        result = ix.switch_default(name, gate=gate, margin=margin, k=k, dataset=dataset, timeout=timeout)
        if json_out:
            print_json(result)
        else:
            _print_gate(result)
        if not result.switched and result.worse:
            raise typer.Exit(1)


def _print_gate(result: GateResult) -> None:
    if result.previous_metrics is not None:
        names = list(result.candidate_metrics)
        table = Table("profile", *names)
        table.add_row(
            f"{result.candidate} (candidate)", *(f"{result.candidate_metrics[n]:.3f}" for n in names)
        )
        table.add_row(f"{result.previous} (current)", *(f"{result.previous_metrics[n]:.3f}" for n in names))
        console.print(table)
    if result.switched:
        console.print(f"search now uses profile {result.default!r}")
    elif result.worse:
        console.print(
            f"kept {result.default!r}: {result.candidate!r} is worse by more than {result.margin} on "
            + ", ".join(result.worse)
        )
    else:
        console.print(f"{result.default!r} already is the default")
