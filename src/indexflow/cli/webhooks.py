"""``indexflow webhooks …``: signed notifications of plans and documents changing."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from indexflow.cli.common import Json, console, emit, err_console, facade, print_json

app = typer.Typer(
    help="Webhooks: POST signed JSON events (plan.embedded, plan.failed, document.activated …) to a URL.",
    no_args_is_help=True,
)

COLUMNS = [
    "webhook_id",
    "url",
    "events",
    "dataset",
    "secret",
    "pending",
    "delivered",
    "failures",
    "retry_at",
    "last_error",
]


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="where to POST events (http or https)")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            "-e",
            help="an event type to receive (repeat; default: every type): plan.embedded, plan.failed, "
            "plan.cancelled, document.activated, document.deactivated, document.deleted",
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="only this dataset's events (default: every dataset)"),
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="the signing secret (default: a random one, printed once)")
    ] = None,
    json_out: Json = False,
) -> None:
    """Add a webhook; prints the generated secret once (it is never listed)."""
    with facade() as ix:
        created = ix.webhooks.add(url, events=event or None, dataset=dataset, secret=secret)
    if json_out:
        print_json(created)
        return
    events = ", ".join(created.events) if created.events else "every event"
    scope = f"dataset {created.dataset}" if created.dataset else "every dataset"
    err_console.print(
        f"added webhook [bold]{created.webhook_id}[/bold] → " + escape(f"{created.url}: {events}, {scope}")
    )
    if created.generated:
        console.print(created.secret, markup=False, highlight=False, soft_wrap=True)
        err_console.print(
            "[yellow]store this signing secret now: it is not shown again.[/yellow] Each delivery "
            "carries X-Indexflow-Signature: sha256=<HMAC-SHA256 of the body with it>."
        )
    else:
        err_console.print("deliveries are signed with the secret you gave (X-Indexflow-Signature)")


@app.command("list")
def list_webhooks(json_out: Json = False) -> None:
    """Every webhook: URL, filters, pending and delivered events, failures. Never a secret."""
    with facade() as ix:
        hooks = ix.webhooks.list()
    if json_out:
        print_json(hooks)
        return
    rows = [
        h.to_dict() | {"events": ",".join(h.events) if h.events else "*", "dataset": h.dataset or "*"}
        for h in hooks
    ]
    emit(rows, False, COLUMNS)


@app.command("remove")
def remove(
    webhook_id: Annotated[int, typer.Argument(help="the webhook's id (webhooks list)")],
    json_out: Json = False,
) -> None:
    """Remove a webhook: its pending deliveries are dropped, nothing more is sent to it."""
    with facade() as ix:
        removed = ix.webhooks.remove(webhook_id)
    if json_out:
        print_json(removed)
        return
    err_console.print(
        f"removed webhook [bold]{removed.webhook_id}[/bold] ({escape(removed.url)}); "
        f"{removed.pending} pending deliveries dropped"
    )
