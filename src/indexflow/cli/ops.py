"""Operational commands: ``config``, ``db upgrade``, ``worker``, ``serve``."""

from __future__ import annotations

from typing import Annotated

import typer

from indexflow.cli.common import console, err_console, facade, print_json

db = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


def config(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the effective settings (secrets masked)."""
    from indexflow.settings import Settings

    masked = Settings().masked()
    if json_out:
        print_json(masked)
    else:
        for key, value in masked.items():
            console.print(f"{key:<20} {value}", highlight=False)


@db.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations (PostgreSQL and SQLite alike)."""
    from indexflow.manage.schema import upgrade_schema
    from indexflow.settings import Settings

    console.print(upgrade_schema(Settings(), revision))


def worker(
    queues: Annotated[list[str] | None, typer.Option("--queues", "-Q", help="queues to consume")] = None,
    processes: Annotated[int, typer.Option("--processes", "-p", min=1)] = 1,
    threads: Annotated[int, typer.Option("--threads", "-t", min=1)] = 2,
) -> None:
    """Run Dramatiq workers for the plan and embed queues (needs INDEXFLOW_BROKER_URL)."""
    import logging

    from indexflow.errors import IndexflowError
    from indexflow.settings import Settings
    from indexflow.tasks.worker import run_workers

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        run_workers(Settings(), queues, processes, threads)
    except IndexflowError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
) -> None:
    """Run the HTTP API (OpenAPI at /docs).

    On an address other than loopback it refuses to start (exit 2) while no API key exists
    (`indexflow keys create …`): the API would be open to anyone who can reach it.
    """
    import uvicorn

    from indexflow.api.app import create_app
    from indexflow.settings import Settings

    settings = Settings()
    bind = host or settings.api_host
    refuse_exposed_bind(bind)
    uvicorn.run(create_app(settings), host=bind, port=port or settings.api_port)


def refuse_exposed_bind(host: str) -> None:
    """Exit 2 with a message if serving on ``host`` would expose an API that has no key."""
    from indexflow.api.auth import exposure_problem, is_loopback

    if is_loopback(host):
        return
    with facade() as ix:
        problem = exposure_problem(host, ix.keys.any_active())
    if problem is not None:
        err_console.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(2)
