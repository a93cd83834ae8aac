"""Operational commands: config, db, worker, serve."""

from __future__ import annotations

from typing import Annotated

import typer

from indexflow.cli.common import console, err_console, print_json


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
    app.add_typer(db, name="db")

    @app.command()
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
        from indexflow.db.migrate import current_revision, upgrade
        from indexflow.db.session import make_engine
        from indexflow.settings import Settings, mask_url

        settings = Settings()
        engine = make_engine(settings.effective_database_url)
        upgrade(engine, revision)
        console.print(f"{mask_url(settings.effective_database_url)} at revision {current_revision(engine)}")
        engine.dispose()

    @app.command()
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

    @app.command()
    def workers(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
        """List live worker processes: host, pid, queues, what each runs now, last heartbeat."""
        from indexflow.cli.common import facade

        with facade() as ix:
            rows = ix.workers()
            if json_out:
                print_json(rows)
                return
            if not rows:
                if ix.tasks.in_process:
                    console.print(
                        "no process works on this home now (without a broker, `indexflow ingest` and "
                        "`indexflow serve` run their own worker)"
                    )
                else:
                    console.print(
                        "no live worker listens on the broker's queues; start one with `indexflow worker`"
                    )
                return
            for w in rows:
                doing = (
                    f"running units {w['running_units']}"
                    if w["running_units"]
                    else f"idle since {w['idle_since']}"
                )
                queues = ",".join(w["queues"])
                line = f"{w['host']} pid {w['pid']}  queues {queues}  {doing}  last beat {w['last_beat']}"
                console.print(line, highlight=False)

    @app.command()
    def serve(
        host: Annotated[str | None, typer.Option(help="bind address")] = None,
        port: Annotated[int | None, typer.Option(help="port")] = None,
    ) -> None:
        """Run the HTTP API (OpenAPI at /docs)."""
        import uvicorn

        from indexflow.api.app import create_app
        from indexflow.settings import Settings

        settings = Settings()
        uvicorn.run(create_app(settings), host=host or settings.api_host, port=port or settings.api_port)
