"""The ``indexflow`` command: each subcommand calls the facade."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from indexflow.cli import chunks, documents, keys, maintenance, ops, plans, profiles
from indexflow.cli.common import Json, console, err_console, facade, print_json

if TYPE_CHECKING:
    from indexflow.service import Indexflow
from indexflow.views import IngestReport
from indexflow.views import Progress as IngestProgress

app = typer.Typer(
    name="indexflow",
    help="Ingest documents, cut them into chunks, embed and index them; then search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(ops.config)
app.command()(ops.worker)
app.command()(ops.serve)
app.command()(maintenance.purge)
app.command()(maintenance.reconcile)
app.command()(maintenance.workers)
app.add_typer(ops.db, name="db")
app.add_typer(profiles.app, name="profiles")
app.add_typer(documents.app, name="documents")
app.add_typer(plans.app, name="plans")
app.add_typer(chunks.app, name="chunks")
app.add_typer(keys.app, name="keys")

Dataset = Annotated[str, typer.Option("--dataset", "-d", help="dataset (collection of documents)")]


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="files, folders (recursive) or URIs")],
    dataset: Dataset = "default",
    profile: Annotated[
        list[str] | None, typer.Option(help="profile(s) to build; default: all active")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow until every plan finished")] = True,
    keep_waiting: Annotated[
        bool,
        typer.Option("--keep-waiting", help="with a broker: register even if no worker is listening yet"),
    ] = False,
    json_out: Json = False,
) -> None:
    """Ingest documents; exits 1 and lists the failures if any document failed."""
    with facade() as ix:
        if not wait and ix.in_process:
            err_console.print(
                "[yellow]note:[/yellow] no broker is configured (INDEXFLOW_BROKER_URL), so this process "
                "is the worker: waiting for the work to finish"
            )
            wait = True
        need = not keep_waiting
        if json_out or not console.is_terminal:
            report = ix.ingest(paths, dataset=dataset, wait=wait, profiles=profile, require_workers=need)
        else:
            report = _ingest_with_bars(ix, paths, dataset, wait, profile, need)
        if json_out:
            print_json(report)
        else:
            counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(report.counts.items()))
            unchanged = sum(1 for d in report.documents if d.outcome == "unchanged")
            console.print(
                f"{len(report.documents)} documents in dataset [bold]{dataset}[/bold]: {counts or 'none'}"
                + (f" ({unchanged} unchanged)" if unchanged else "")
            )
            for d in report.failed:
                err_console.print(f"[red]FAILED[/red] {d.source}: {d.error}")
            if report.skipped:
                from collections import Counter

                kinds = Counter(Path(p).suffix.lower() or "(no extension)" for p in report.skipped)
                listed = ", ".join(f"{k} ×{n}" for k, n in kinds.most_common(8))
                console.print(
                    f"[dim]skipped {len(report.skipped)} files of unsupported types: {listed}[/dim]"
                )
        if not report.ok:
            raise typer.Exit(1)


def _ingest_with_bars(
    ix: Indexflow,
    paths: list[str],
    dataset: str,
    wait: bool,
    profile: list[str] | None,
    need_workers: bool,
) -> IngestReport:
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        reg = bars.add_task("registered", total=None)
        parsed = bars.add_task("parsed", total=None)
        bundled = bars.add_task("bundled", total=None)
        embedded = bars.add_task("embedded chunks", total=None)

        def update(p: IngestProgress) -> None:
            bars.update(reg, completed=p.registered, total=p.registered)
            bars.update(parsed, completed=p.parsed, total=p.plans_total)
            bars.update(bundled, completed=p.bundled, total=p.plans_total)
            bars.update(embedded, completed=p.chunks_embedded, total=max(p.chunks_total, 1))

        return ix.ingest(
            paths,
            dataset=dataset,
            wait=wait,
            profiles=profile,
            on_progress=update,
            require_workers=need_workers,
        )


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="what to look for")],
    dataset: Dataset = "default",
    k: Annotated[int, typer.Option("-k", help="number of hits")] = 10,
    profile: Annotated[str | None, typer.Option(help="index profile to search")] = None,
    json_out: Json = False,
) -> None:
    """Semantic search over a dataset's searchable documents."""
    with facade() as ix:
        hits = ix.search(query, dataset=dataset, k=k, profile=profile)
        if json_out:
            print_json(hits)
            return
        if not hits:
            known = ix.documents.datasets()
            listed = ", ".join(known) or "none"
            hint = "" if dataset in known else f" (no dataset {dataset!r}; datasets: {listed})"
            console.print(f"no hits{hint}")
        for i, h in enumerate(hits, 1):
            title = h.document.title or h.document.source
            console.print(f"[bold]{i}. {h.score:.3f}[/bold]  {title}  [dim]› {h.bundle.title}[/dim]")
            console.print(f"   [dim]{h.document.source}  chars {h.chunk.char_start}–{h.chunk.char_end}[/dim]")
            snippet = " ".join(h.text.split())
            console.print(f"   {snippet[:1200]}{'…' if len(snippet) > 1200 else ''}\n", highlight=False)


@app.command()
def status(
    dataset: Annotated[str | None, typer.Option("--dataset", "-d")] = None, json_out: Json = False
) -> None:
    """Per document and plan: status, counts, last_error."""
    with facade() as ix:
        docs = ix.documents.list(dataset=dataset)
        if json_out:
            print_json(docs)
            return
        table = Table("doc", "status", "title / source", "plans (status chunks)", "last error / waiting")
        for d in docs:
            plans = "; ".join(
                f"#{p.plan_id} {p.profile} {p.status}{'*' if p.is_active else ''} "
                f"{p.embedded_count}/{p.chunk_count}"
                for p in d.plans
            )
            waiting = next((p.retrying for p in d.plans if p.retrying), None)
            note = d.error or (f"retrying: {waiting}" if waiting else "")
            table.add_row(str(d.document_id), d.status, d.title or d.source, plans, note[:160])
        console.print(table)
        console.print("[dim]* = active plan (serves search)[/dim]")


@app.command()
def preview(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a document")],
    chunk_size: Annotated[int | None, typer.Option(help="tokens per chunk")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="tokens shared by neighbours")] = None,
    target_bundle_tokens: Annotated[int | None, typer.Option(help="bundle budget in tokens")] = None,
    tokenizer: Annotated[str | None, typer.Option(help="tokenizer (model id or folder)")] = None,
    json_out: Json = False,
) -> None:
    """Show how a document will be cut (components → bundles → chunks); stores nothing."""
    from indexflow.errors import IndexflowError
    from indexflow.query.preview import preview as run_preview

    try:
        result = run_preview(
            path.read_bytes(),
            path.name,
            tokenizer_name=tokenizer,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            target_bundle_tokens=target_bundle_tokens,
        )
    except (IndexflowError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    if json_out:
        print_json(result)
        return
    console.print(f"[bold]{result['title'] or path.name}[/bold]  ({result['format']})")
    console.print("[bold]Components[/bold]")
    for c in result["components"]:
        text = " ".join(c["text"].split())[:70]
        console.print(
            f"{'  ' * c['depth']}- {c['kind']} [dim]{c['token_count']} tok[/dim] {text}", highlight=False
        )
    console.print(f"\n[bold]{len(result['bundles'])} bundles[/bold]")
    for b in result["bundles"]:
        console.print(
            f"[bold]#{b['seq']}[/bold] {b['title']} [dim]{b['token_count']} tok, "
            f"{len(b['component_ids'])} components[/dim]",
            highlight=False,
        )
        for ch in b["chunks"]:
            text = " ".join(ch["text"].split())
            console.print(
                f"    chunk {ch['seq']} [dim][{ch['char_start']}:{ch['char_end']}] "
                f"{ch['token_count']} tok[/dim] {text[:60]}{'…' if len(text) > 60 else ''}",
                highlight=False,
            )


if __name__ == "__main__":
    app()
