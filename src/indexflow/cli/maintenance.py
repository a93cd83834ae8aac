"""``indexflow purge``, ``reconcile`` and ``workers``: the operator's tools."""

from __future__ import annotations

from typing import Annotated

import typer

from indexflow.cli.common import Json, Wait, console, facade, print_json


def purge(
    document: Annotated[int | None, typer.Option("--document", help="document id")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="profile name")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="dataset name")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would go; change nothing")] = False,
    preserve_vectors: Annotated[
        bool, typer.Option("--preserve-vectors", help="leave the store alone")
    ] = False,
    json_out: Json = False,
) -> None:
    """Remove plans (and chunks, vectors) of a document, a profile or a dataset."""
    with facade() as ix:
        report = ix.maintenance.purge(
            document_id=document,
            profile=profile,
            dataset=dataset,
            dry_run=dry_run,
            preserve_vectors=preserve_vectors,
        )
        if json_out:
            print_json(report)
            return
        verb = "would remove" if dry_run else "removed"
        console.print(
            f"{verb}: {len(report.plans)} plans {report.plans}, {report.chunks} chunks, "
            f"{report.points} points" + (" (vectors preserved)" if preserve_vectors else "")
        )


def reconcile(
    fix: Annotated[bool, typer.Option("--fix", help="delete orphans, rebuild gaps")] = False,
    wait: Wait = True,
    json_out: Json = False,
) -> None:
    """Compare the vector store with the database: orphan points and plans missing points.

    A check: findings that were not fixed exit 1, with --json as without.
    """
    with facade() as ix:
        report = ix.maintenance.reconcile(fix=fix)
        if fix and wait and report.plans_missing_points:
            ix.wait(report.plans_missing_points)
        if json_out:
            print_json(report)
        else:
            detached = ", ".join(f"{c} ({n} points)" for c, n in report.detached_collections.items())
            console.print(
                f"orphan points: {report.orphan_count}; plans missing points: "
                f"{report.plans_missing_points or 'none'}; detached collections: {detached or 'none'}"
                + (" — fixed" if fix else "")
            )
        if report.findings and not fix:
            raise typer.Exit(1)


def workers(json_out: Json = False) -> None:
    """List live worker processes: host, pid, queues, what each runs now, last heartbeat."""
    with facade() as ix:
        rows = ix.maintenance.workers()
        if json_out:
            print_json(rows)
            return
        if not rows:
            if ix.in_process:
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
            doing = f"running units {w.running_units}" if w.running_units else f"idle since {w.idle_since}"
            line = f"{w.host} pid {w.pid}  queues {','.join(w.queues)}  {doing}  last beat {w.last_beat}"
            console.print(line, highlight=False)
