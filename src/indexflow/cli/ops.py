"""Operational commands: ``config``, ``db upgrade``, ``worker``, ``serve``."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from indexflow.cli.common import console, err_console, facade, print_json

if TYPE_CHECKING:
    from indexflow.settings import Settings

db = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


class LogFormat(StrEnum):
    text = "text"
    json = "json"


LogFormatOption = Annotated[
    LogFormat | None,
    typer.Option("--log-format", help="log lines as text or one JSON object each (INDEXFLOW_LOG_FORMAT)"),
]


def _with_log_format(log_format: LogFormat | None) -> Settings:
    """The settings, with ``--log-format`` over INDEXFLOW_LOG_FORMAT; logging configured so."""
    from indexflow.observability.logs import configure_logging
    from indexflow.settings import Settings

    settings = Settings()
    if log_format is not None:
        settings = settings.model_copy(update={"log_format": log_format.value})
    configure_logging(settings.log_format)
    return settings


def config(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the effective settings (secrets masked)."""
    from indexflow.settings import Settings

    masked = Settings().masked()
    if json_out:
        print_json(masked)
    else:
        for key, value in masked.items():
            console.print(f"{key:<20} {value}", markup=False, highlight=False)


@db.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations (PostgreSQL and SQLite alike)."""
    from indexflow.manage.schema import upgrade_schema
    from indexflow.settings import Settings

    console.print(upgrade_schema(Settings(), revision), markup=False)


def worker(
    queues: Annotated[list[str] | None, typer.Option("--queues", "-Q", help="queues to consume")] = None,
    processes: Annotated[int, typer.Option("--processes", "-p", min=1)] = 1,
    threads: Annotated[int, typer.Option("--threads", "-t", min=1)] = 2,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="serve Prometheus metrics of all the processes at http://HOST:PORT/metrics",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="bind address of --metrics-port")
    ] = "127.0.0.1",
    log_format: LogFormatOption = None,
) -> None:
    """Run Dramatiq workers for the plan and embed queues (needs INDEXFLOW_BROKER_URL)."""
    from indexflow.errors import IndexflowError
    from indexflow.tasks.worker import run_workers

    settings = _with_log_format(log_format)
    try:
        run_workers(
            settings, queues, processes, threads, metrics_port=metrics_port, metrics_host=metrics_host
        )
    except IndexflowError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    log_format: LogFormatOption = None,
) -> None:
    """Run the HTTP API (OpenAPI at /docs, Prometheus metrics at /metrics).

    On an address other than loopback it refuses to start (exit 2) while no API key exists
    (`indexflow keys create …`): the API would be open to anyone who can reach it.
    """
    import uvicorn

    from indexflow.api.app import create_app

    settings = _with_log_format(log_format)
    bind = host or settings.api_host
    refuse_exposed_bind(bind)
    # uvicorn's loggers go through ours (log_config=None); the app writes one access line per
    # request itself, with its request id (api/request_ids.py), so uvicorn's own is off.
    uvicorn.run(
        create_app(settings), host=bind, port=port or settings.api_port, log_config=None, access_log=False
    )


def refuse_exposed_bind(host: str) -> None:
    """Exit 2 with a message if serving on ``host`` would expose an API that has no key."""
    from indexflow.api.auth import exposure_problem, is_loopback

    if is_loopback(host):
        return
    with facade() as ix:
        problem = exposure_problem(host, ix.keys.any_active())
    if problem is not None:
        err_console.print(f"[red]error:[/red] {escape(problem)}", highlight=False)
        raise typer.Exit(2)
