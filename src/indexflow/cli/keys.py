"""``indexflow keys …``: API keys for the HTTP API (the CLI itself needs none)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from indexflow.cli.common import Json, console, emit, err_console, facade, print_json

app = typer.Typer(
    help="API keys for the HTTP API: once one exists, every request needs one.", no_args_is_help=True
)

COLUMNS = ["name", "prefix", "role", "datasets", "active", "created_at", "last_used_at", "revoked_at"]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="a unique name for the key (who or what uses it)")],
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", "-d", help="a dataset it may see (repeat; default: every dataset)"),
    ] = None,
    role: Annotated[
        str, typer.Option(help="read (look, search) | write (also ingest, change) | admin (also profiles)")
    ] = "read",
    json_out: Json = False,
) -> None:
    """Create a key and print its secret: this once only (only its hash is stored)."""
    with facade() as ix:
        created = ix.keys.create(name, datasets=dataset or None, role=role)
    if json_out:
        print_json(created)
        return
    scope = ", ".join(created.datasets) if created.datasets is not None else "every dataset"
    err_console.print(
        f"created API key [bold]{escape(created.name)}[/bold]: role {created.role}, {escape(scope)}"
    )
    console.print(created.secret, markup=False, highlight=False, soft_wrap=True)
    err_console.print(
        "[yellow]store it now: it is not shown again.[/yellow] "
        "Clients send it as `Authorization: Bearer <key>`."
    )


@app.command("list")
def list_keys(json_out: Json = False) -> None:
    """Every key (revoked ones too): name, prefix, role, datasets, last use. Never a secret."""
    with facade() as ix:
        keys = ix.keys.list()
    rows = [k.to_dict() | {"datasets": ",".join(k.datasets) if k.datasets else "*"} for k in keys]
    if json_out:
        print_json(keys)
    else:
        emit(rows, json_out, COLUMNS)


@app.command("revoke")
def revoke(name: str, json_out: Json = False) -> None:
    """Revoke a key: requests with it are refused (401) from now on; the API stays keyed."""
    with facade() as ix:
        emit(ix.keys.revoke(name), json_out, COLUMNS)


@app.command("delete")
def delete(name: str, json_out: Json = False) -> None:
    """Forget a key (revoked or not). With no key left at all, the HTTP API is open again."""
    with facade() as ix:
        out = ix.keys.delete(name)
        left = ix.keys.enforced()
    emit(out, json_out, COLUMNS)
    if not left and not json_out:
        err_console.print("[yellow]no API key is left: the HTTP API needs none now[/yellow]")
