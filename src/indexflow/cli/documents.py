"""``indexflow documents …``: list, show, deactivate, delete."""

from __future__ import annotations

from typing import Annotated

import typer

from indexflow.cli.common import DatasetFilter, Json, console, emit, facade, print_json

app = typer.Typer(help="Documents: list, show, deactivate, delete.", no_args_is_help=True)

PLAN_COLUMNS = ["plan_id", "profile", "state", "is_active", "chunk_count", "embedded_count", "last_error"]


@app.command("list")
def list_documents(dataset: DatasetFilter = None, json_out: Json = False) -> None:
    with facade() as ix:
        emit(
            ix.documents.list(dataset=dataset),
            json_out,
            ["document_id", "dataset", "status", "is_active", "title", "source", "error"],
        )


@app.command("show")
def show(document_id: int, json_out: Json = False) -> None:
    with facade() as ix:
        doc = ix.documents.get(document_id)
        if json_out:
            print_json(doc)
            return
        emit(doc, False)
        if doc.metadata:
            pairs = "  ".join(f"{k}={v}" for k, v in doc.metadata.items())
            console.print(f"metadata: {pairs}", markup=False, highlight=False)
        emit(doc.plans, False, PLAN_COLUMNS)


@app.command("deactivate")
def deactivate(
    document_id: int,
    keep_vectors: Annotated[bool, typer.Option(help="leave its vectors in the store")] = False,
    json_out: Json = False,
) -> None:
    """Remove a document from search (its rows stay; ingest it again to bring it back)."""
    with facade() as ix:
        emit(ix.documents.deactivate(document_id, drop_vectors=not keep_vectors), json_out)


@app.command("delete")
def delete(document_id: int, json_out: Json = False) -> None:
    """Delete a document with its versions, plans, chunks and vectors."""
    with facade() as ix:
        emit(ix.documents.delete(document_id), json_out)
