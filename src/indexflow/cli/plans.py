"""``indexflow plans …``: list, show, rerun, activate."""

from __future__ import annotations

from typing import Annotated

import typer

from indexflow.cli.common import DatasetFilter, Json, Wait, emit, facade

app = typer.Typer(help="Chunk plans: list, show, rerun, activate.", no_args_is_help=True)


@app.command("list")
def list_plans(
    dataset: DatasetFilter = None,
    status: Annotated[str | None, typer.Option(help="only plans in this status")] = None,
    json_out: Json = False,
) -> None:
    with facade() as ix:
        emit(
            ix.plans.list(dataset=dataset, status=status),
            json_out,
            [
                "plan_id",
                "document_id",
                "profile",
                "state",
                "is_active",
                "chunk_count",
                "embedded_count",
                "last_error",
            ],
        )


@app.command("show")
def show(plan_id: int, json_out: Json = False) -> None:
    with facade() as ix:
        emit(ix.plans.get(plan_id), json_out)


@app.command("rerun")
def rerun(
    plan_id: int,
    embed: Annotated[bool, typer.Option("--embed/--no-embed", help="embed after bundling")] = True,
    wait: Wait = True,
    json_out: Json = False,
) -> None:
    """Reset a plan and build it again (the serving generation keeps answering meanwhile)."""
    with facade() as ix:
        ix.plans.rerun(plan_id, embed=embed)
        if wait and embed:
            ix.wait([plan_id])
        emit(ix.plans.get(plan_id), json_out)


@app.command("activate")
def activate(
    plan_id: int,
    force: Annotated[bool, typer.Option(help="even if not EMBEDDED")] = False,
    wait: Wait = True,
    json_out: Json = False,
) -> None:
    """Make this plan the one serving its document and profile."""
    with facade() as ix:
        view = ix.plans.activate(plan_id, force=force)
        if wait and view.status not in ("EMBEDDED", "FAILED"):  # forced: being rebuilt
            ix.wait([plan_id])
            view = ix.plans.get(plan_id)
        emit(view, json_out)
