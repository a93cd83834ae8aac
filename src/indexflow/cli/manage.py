"""Lifecycle commands: profiles, documents, plans, chunks, purge, reconcile."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from indexflow.cli.common import console, facade, print_json

Json = Annotated[bool, typer.Option("--json", help="print JSON")]
ChunkSize = Annotated[int | None, typer.Option(help="tokens per chunk")]
Overlap = Annotated[int | None, typer.Option(help="overlap in tokens")]
Target = Annotated[int | None, typer.Option(help="bundle budget in tokens")]
Encoder = Annotated[str | None, typer.Option(help="encoder model id or folder")]
Dim = Annotated[int | None, typer.Option(help="vector dimension")]
# The embedded default runs its worker inside this process: work still queued when the command
# exits is only picked up by a later sweep, so commands that start work follow it by default.
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="follow the work it starts until done")]


def _emit(data: Any, json_out: bool, columns: list[str] | None = None) -> None:
    if json_out:
        print_json(data)
        return
    rows = data if isinstance(data, list) else [data]
    if not rows:
        console.print("nothing")
        return
    cols = columns or [k for k, v in rows[0].items() if not isinstance(v, list | dict)]
    table = Table(*cols)
    for row in rows:
        table.add_row(*[("" if row.get(c) is None else str(row.get(c)))[:80] for c in cols])
    console.print(table)


def register(app: typer.Typer) -> None:
    profiles = typer.Typer(help="Index profiles: encoder, tokenizer, chunking, HNSW.", no_args_is_help=True)
    documents = typer.Typer(help="Documents: list, show, deactivate, delete.", no_args_is_help=True)
    plans = typer.Typer(help="Chunk plans: list, show, rerun, activate.", no_args_is_help=True)
    chunks = typer.Typer(help="Chunks: list, disable, enable.", no_args_is_help=True)
    for sub, name in ((profiles, "profiles"), (documents, "documents"), (plans, "plans"), (chunks, "chunks")):
        app.add_typer(sub, name=name)

    @profiles.command("list")
    def profiles_list(json_out: Json = False) -> None:
        with facade() as ix:
            _emit(ix.profiles(), json_out)

    @profiles.command("create")
    def profiles_create(
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
            out = ix.create_profile(
                name,
                activate=activate,
                chunk_size=chunk_size,
                chunk_overlap=chunk_overlap,
                target_bundle_tokens=target_bundle_tokens,
                encoder=encoder,
                tokenizer=encoder,
                dimension=dimension,
            )
            if wait and out.get("plan_ids"):
                ix.wait(out["plan_ids"])
            _emit(out, json_out)

    @profiles.command("clone")
    def profiles_clone(
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
            _emit(
                ix.clone_profile(
                    source,
                    name,
                    chunk_size=chunk_size,
                    chunk_overlap=chunk_overlap,
                    target_bundle_tokens=target_bundle_tokens,
                    encoder=encoder,
                    tokenizer=encoder,
                    dimension=dimension,
                ),
                json_out,
            )

    @profiles.command("activate")
    def profiles_activate(name: str, wait: Wait = True, json_out: Json = False) -> None:
        """Activate: plans are built for every active document while older profiles keep serving."""
        with facade() as ix:
            out = ix.activate_profile(name)
            if wait and out["plan_ids"]:
                ix.wait(out["plan_ids"])
            _emit(out, json_out)

    @profiles.command("deactivate")
    def profiles_deactivate(name: str, json_out: Json = False) -> None:
        with facade() as ix:
            _emit(ix.deactivate_profile(name), json_out)

    @documents.command("list")
    def documents_list(
        dataset: Annotated[str | None, typer.Option("--dataset", "-d")] = None, json_out: Json = False
    ) -> None:
        with facade() as ix:
            rows = [d.to_dict() for d in ix.status(dataset=dataset)]
            _emit(
                rows, json_out, ["document_id", "dataset", "status", "is_active", "title", "source", "error"]
            )

    @documents.command("show")
    def documents_show(document_id: int, json_out: Json = False) -> None:
        with facade() as ix:
            doc = ix.document(document_id)
            if json_out:
                print_json(doc)
            else:
                _emit(doc, False)
                _emit(
                    doc["plans"],
                    False,
                    [
                        "plan_id",
                        "profile",
                        "status",
                        "is_active",
                        "chunk_count",
                        "embedded_count",
                        "last_error",
                    ],
                )

    @documents.command("deactivate")
    def documents_deactivate(
        document_id: int,
        keep_vectors: Annotated[bool, typer.Option(help="leave its vectors in the store")] = False,
        json_out: Json = False,
    ) -> None:
        """Remove a document from search (its rows stay; ingest it again to bring it back)."""
        with facade() as ix:
            _emit(ix.deactivate_document(document_id, drop_vectors=not keep_vectors), json_out)

    @documents.command("delete")
    def documents_delete(document_id: int, json_out: Json = False) -> None:
        """Delete a document with its versions, plans, chunks and vectors."""
        with facade() as ix:
            _emit(ix.delete_document(document_id), json_out)

    @plans.command("list")
    def plans_list(
        dataset: Annotated[str | None, typer.Option("--dataset", "-d")] = None,
        status: Annotated[str | None, typer.Option()] = None,
        json_out: Json = False,
    ) -> None:
        with facade() as ix:
            _emit(
                ix.plans(dataset=dataset, status=status),
                json_out,
                [
                    "plan_id",
                    "document_id",
                    "profile",
                    "status",
                    "is_active",
                    "chunk_count",
                    "embedded_count",
                    "last_error",
                ],
            )

    @plans.command("show")
    def plans_show(plan_id: int, json_out: Json = False) -> None:
        with facade() as ix:
            _emit(ix.plan(plan_id), json_out)

    @plans.command("rerun")
    def plans_rerun(
        plan_id: int,
        embed: Annotated[bool, typer.Option("--embed/--no-embed", help="embed after bundling")] = True,
        wait: Annotated[bool, typer.Option("--wait/--no-wait")] = True,
        json_out: Json = False,
    ) -> None:
        """Reset a plan and build it again."""
        with facade() as ix:
            ix.rerun_plan(plan_id, requeue_embedding=embed)
            if wait and embed:
                ix.wait([plan_id])
            _emit(ix.plan(plan_id), json_out)

    @plans.command("activate")
    def plans_activate(
        plan_id: int,
        force: Annotated[bool, typer.Option(help="even if not EMBEDDED")] = False,
        wait: Wait = True,
        json_out: Json = False,
    ) -> None:
        """Make this plan the one serving its document and profile."""
        with facade() as ix:
            view = ix.activate_plan(plan_id, force=force)
            if wait and view["status"] not in ("EMBEDDED", "FAILED"):  # forced: being rebuilt
                ix.wait([plan_id])
                view = ix.plan(plan_id)
            _emit(view, json_out)

    @chunks.command("list")
    def chunks_list(plan_id: int, json_out: Json = False) -> None:
        with facade() as ix:
            _emit(
                ix.chunks(plan_id),
                json_out,
                ["chunk_id", "seq", "status", "enabled", "token_count", "char_start", "char_end", "text"],
            )

    @chunks.command("disable")
    def chunks_disable(chunk_id: int, json_out: Json = False) -> None:
        """Hide one chunk from search (no re-embedding)."""
        with facade() as ix:
            _emit(ix.set_chunk_enabled(chunk_id, False), json_out)

    @chunks.command("enable")
    def chunks_enable(chunk_id: int, json_out: Json = False) -> None:
        with facade() as ix:
            _emit(ix.set_chunk_enabled(chunk_id, True), json_out)

    @app.command()
    def purge(
        document: Annotated[int | None, typer.Option("--document", help="document id")] = None,
        profile: Annotated[str | None, typer.Option("--profile", help="profile name")] = None,
        dataset: Annotated[str | None, typer.Option("--dataset", help="dataset name")] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="list what would go; change nothing")
        ] = False,
        preserve_vectors: Annotated[
            bool, typer.Option("--preserve-vectors", help="leave the store alone")
        ] = False,
        json_out: Json = False,
    ) -> None:
        """Remove plans (and chunks, vectors) of a document, a profile or a dataset."""
        with facade() as ix:
            report = ix.purge(
                document_id=document,
                profile=profile,
                dataset=dataset,
                dry_run=dry_run,
                preserve_vectors=preserve_vectors,
            )
            if json_out:
                print_json(report.to_dict())
                return
            verb = "would remove" if dry_run else "removed"
            console.print(
                f"{verb}: {len(report.plans)} plans {report.plans}, {report.chunks} chunks, "
                f"{report.points} points" + (" (vectors preserved)" if preserve_vectors else "")
            )

    @app.command()
    def reconcile(
        fix: Annotated[bool, typer.Option("--fix", help="delete orphans, rebuild gaps")] = False,
        wait: Wait = True,
        json_out: Json = False,
    ) -> None:
        """Compare the vector store with the database: orphan points and plans missing points."""
        with facade() as ix:
            report = ix.reconcile(fix=fix)
            if fix and wait and report.plans_missing_points:
                ix.wait(report.plans_missing_points)
            data = report.to_dict()
            if json_out:
                print_json(data)
            else:
                detached = ", ".join(f"{c} ({n} points)" for c, n in report.detached_collections.items())
                console.print(
                    f"orphan points: {data['orphan_count']}; plans missing points: "
                    f"{report.plans_missing_points or 'none'}; detached collections: {detached or 'none'}"
                    + (" — fixed" if fix else "")
                )
            # A check: findings that were not fixed exit 1, with --json as without.
            findings = data["orphan_count"] or report.plans_missing_points or report.detached_collections
            if findings and not fix:
                raise typer.Exit(1)
