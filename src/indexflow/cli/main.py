"""The ``indexflow`` command: each subcommand calls the facade."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from indexflow.cli import chunks, documents, keys, maintenance, ops, plans, profiles, webhooks
from indexflow.cli.common import Json, console, err_console, facade, print_json
from indexflow.cli.export import export
from indexflow.cli.watch import watch
from indexflow.errors import invalid_request

if TYPE_CHECKING:
    from indexflow.service import Indexflow
from indexflow.views import Hit, IngestReport
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
app.command()(export)
app.command()(watch)
app.add_typer(ops.db, name="db")
app.add_typer(profiles.app, name="profiles")
app.add_typer(documents.app, name="documents")
app.add_typer(plans.app, name="plans")
app.add_typer(chunks.app, name="chunks")
app.add_typer(keys.app, name="keys")
app.add_typer(webhooks.app, name="webhooks")

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
    meta: Annotated[
        list[str] | None,
        typer.Option(
            "--meta",
            help="key=value metadata for every document (repeatable; numbers and true/false are typed); "
            "a file's NAME.meta.json sidecar overrides it",
        ),
    ] = None,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync",
            help="deactivate the dataset's documents under these folders/prefixes whose source is gone",
        ),
    ] = False,
    json_out: Json = False,
) -> None:
    """Ingest documents; exits 1 if any document failed (listed) or none was ingested.

    URIs (s3://bucket/prefix/, gs://, az://) list every object under the prefix; unchanged
    files and objects (same ETag, or size and mtime) are skipped without being read.
    """
    from indexflow.domain.metadata import parse_cli_meta

    with facade() as ix:
        with invalid_request():
            metadata = parse_cli_meta(meta or [])
        if not wait and ix.in_process:
            err_console.print(
                "[yellow]note:[/yellow] no broker is configured (INDEXFLOW_BROKER_URL), so this process "
                "is the worker: waiting for the work to finish"
            )
            wait = True
        options: dict[str, Any] = {
            "dataset": dataset,
            "wait": wait,
            "profiles": profile,
            "require_workers": not keep_waiting,
            "metadata": metadata,
            "sync": sync,
        }
        if json_out or not console.is_terminal:
            report = ix.ingest(paths, **options)
        else:
            report = _ingest_with_bars(ix, paths, options)
        if json_out:
            print_json(report)
        else:
            counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(report.counts.items()))
            unchanged = sum(1 for d in report.documents if d.outcome == "unchanged")
            console.print(
                f"{len(report.documents)} documents in dataset [bold]{escape(dataset)}[/bold]: "
                + (counts or "none")
                + (f" ({unchanged} unchanged)" if unchanged else "")
            )
            for d in report.failed:
                err_console.print(f"[red]FAILED[/red] {escape(d.source)}: {escape(str(d.error))}")
            if report.skipped:
                listed = ", ".join(_skipped_kinds(report.skipped))
                console.print(
                    f"[dim]skipped {len(report.skipped)} files of unsupported types: {escape(listed)}[/dim]"
                )
            if sync:
                console.print(f"deactivated {len(report.deactivated)} documents whose source is gone")
        if not report.documents and not report.deactivated:
            where = ", ".join(paths)
            kinds = ""
            if report.skipped:
                kinds = " (skipped unsupported types: " + ", ".join(_skipped_kinds(report.skipped)) + ")"
            err_console.print(
                f"[red]error:[/red] nothing was ingested from {escape(where)}{escape(kinds)}",
                highlight=False,
            )
            raise typer.Exit(1)
        if not report.ok:
            raise typer.Exit(1)


def _skipped_kinds(skipped: list[str]) -> list[str]:
    """The extensions of skipped files, most frequent first, with their counts."""
    from collections import Counter

    kinds = Counter(Path(p).suffix.lower() or "(no extension)" for p in skipped)
    return [f"{k} ×{n}" for k, n in kinds.most_common(8)]


def _ingest_with_bars(ix: Indexflow, paths: list[str], options: dict[str, Any]) -> IngestReport:
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

        return ix.ingest(paths, on_progress=update, **options)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="what to look for")],
    dataset: Dataset = "default",
    k: Annotated[int, typer.Option("-k", help="number of hits")] = 10,
    profile: Annotated[str | None, typer.Option(help="index profile to search")] = None,
    mode: Annotated[
        str | None,
        typer.Option(help="dense | sparse (BM25) | hybrid; default: hybrid if the profile has BM25"),
    ] = None,
    max_per_document: Annotated[
        int | None, typer.Option(help="at most this many chunks per document (0: no limit)")
    ] = None,
    group_by: Annotated[
        str | None, typer.Option(help="'document': the k best documents with their top chunks")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="metadata filter, repeatable (all must hold): key=value, key>=v, key<v, 'key in a,b'",
        ),
    ] = None,
    full_bundle: Annotated[
        bool, typer.Option("--full-bundle", help="with --json: each hit's whole bundle text, not a window")
    ] = False,
    json_out: Json = False,
) -> None:
    """Search a dataset's searchable documents (dense, BM25 or hybrid); an unknown dataset exits 1."""
    from indexflow.domain.metadata import parse_cli_where

    with facade() as ix:
        with invalid_request():
            filters = parse_cli_where(where or [])
        _require_dataset(ix, dataset)
        common: dict[str, Any] = {
            "dataset": dataset,
            "k": k,
            "profile": profile,
            "mode": mode,
            "max_per_document": max_per_document,
            "where": filters or None,
            "full_bundle": full_bundle,
        }
        if group_by is not None:
            if group_by != "document":
                raise typer.BadParameter("--group-by takes 'document'")
            groups = ix.search(query, group_by="document", **common)
            if json_out:
                print_json(groups)
                return
            _no_hits(not groups)
            for i, g in enumerate(groups, 1):
                console.print(
                    f"[bold]{i}. {g.score:.3f}[/bold]  {escape(g.document.title or g.document.source)}",
                    highlight=False,
                )
                console.print(f"   [dim]{escape(g.document.source)}[/dim]", highlight=False)
                for h in g.hits:
                    _print_hit(h, indent="     ")
            return
        hits = ix.search(query, **common)
        if json_out:
            print_json(hits)
            return
        _no_hits(not hits)
        for i, h in enumerate(hits, 1):
            title = h.document.title or h.document.source
            console.print(
                f"[bold]{i}. {h.score:.3f}[/bold]  {escape(title)}  [dim]› {escape(h.bundle.title)}[/dim]",
                highlight=False,
            )
            _print_hit(h)


def _require_dataset(ix: Indexflow, dataset: str) -> None:
    """Exit 1 naming the known datasets when ``dataset`` holds no document (a typo, say)."""
    known = ix.documents.datasets()
    if dataset not in known:
        listed = ", ".join(repr(d) for d in known) or "none yet (ingest documents first)"
        err_console.print(
            f"[red]error:[/red] no dataset {escape(repr(dataset))}; known datasets: {escape(listed)}",
            highlight=False,
        )
        raise typer.Exit(1)


def _no_hits(empty: bool) -> None:
    if empty:
        console.print("no hits")


def _print_hit(h: Hit, indent: str = "   ") -> None:
    console.print(
        f"{indent}[dim]{escape(h.document.source)}  chars {h.chunk.char_start}–{h.chunk.char_end}[/dim]",
        highlight=False,
    )
    shown = {k: v for k, v in h.document.metadata.items() if k not in ("title", "format")}
    if shown:
        pairs = "  ".join(f"{k}={v}" for k, v in list(shown.items())[:8])
        console.print(f"{indent}{pairs}", style="dim", markup=False, highlight=False)
    snippet = " ".join(h.text.split())
    console.print(
        f"{indent}{snippet[:1200]}{'…' if len(snippet) > 1200 else ''}\n", markup=False, highlight=False
    )


@app.command("eval")
def evaluate(
    queries: Annotated[
        Path, typer.Argument(help='judged queries: JSONL {"query", "relevant": [source…]} or BEIR')
    ],
    dataset: Dataset = "default",
    profile: Annotated[
        list[str] | None, typer.Option("--profile", "-p", help="profile to evaluate (repeat to compare)")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="cut-off K")] = 10,
    mode: Annotated[
        str | None, typer.Option(help="dense | sparse | hybrid (default: each profile's)")
    ] = None,
    max_per_document: Annotated[
        int | None, typer.Option(help="at most this many chunks per document (0: no limit)")
    ] = None,
    misses: Annotated[int, typer.Option(help="missed queries to list per profile")] = 10,
    json_out: Json = False,
) -> None:
    """Measure retrieval: hit@1, hit@5, hit@K, MRR@K, nDCG@K, recall@K per profile, and the misses."""
    with facade() as ix:
        report = ix.evaluate(
            queries, dataset=dataset, profiles=profile, k=k, mode=mode, max_per_document=max_per_document
        )
        if json_out:
            print_json(report.table())
            return
        names = list(report.profiles[0].metrics)
        table = Table(
            "profile", "mode", *names, title=escape(f"{report.queries} queries, dataset {report.dataset!r}")
        )
        for row in report.profiles:
            table.add_row(escape(row.profile), escape(row.mode), *(f"{row.metrics[n]:.3f}" for n in names))
        console.print(table)
        for row in report.profiles:
            if row.misses and misses > 0:
                console.print(
                    f"\n[bold]{escape(row.profile)}[/bold] missed {len(row.misses)} of {report.queries}:"
                )
                for miss in row.misses[:misses]:
                    got = ", ".join(miss.got[:3]) or "nothing"
                    console.print(
                        f"  {miss.query!r}  wanted {', '.join(miss.relevant[:3])}  got {got}",
                        markup=False,
                        highlight=False,
                    )


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
                f"#{p.plan_id} {p.profile} {p.state or p.status}{'*' if p.is_active else ''} "
                f"{p.embedded_count}/{p.chunk_count}"
                for p in d.plans
            )
            waiting = next((p.retrying for p in d.plans if p.retrying), None)
            note = d.error or (f"retrying: {waiting}" if waiting else "")
            table.add_row(
                str(d.document_id), d.status, escape(d.title or d.source), escape(plans), escape(note[:160])
            )
        console.print(table)
        console.print("[dim]* = active plan (serves search)[/dim]")


@app.command()
def preview(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a document")],
    chunk_size: Annotated[int | None, typer.Option(help="tokens per chunk")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="tokens shared by neighbours")] = None,
    target_bundle_tokens: Annotated[int | None, typer.Option(help="bundle budget in tokens")] = None,
    tokenizer: Annotated[
        str | None, typer.Option(help="tokenizer: model id or folder, or indexflow-estimate")
    ] = None,
    context_template: Annotated[
        str | None,
        typer.Option(help='header embedded before each chunk ("" for none; default: the profile\'s)'),
    ] = None,
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
            context_template=None if context_template is None else context_template.replace("\\n", "\n"),
        )
    except (IndexflowError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    if json_out:
        print_json(result)
        return
    console.print(f"[bold]{escape(result['title'] or path.name)}[/bold]  ({escape(result['format'])})")
    console.print("[bold]Components[/bold]")
    for c in result["components"]:
        text = " ".join(c["text"].split())[:70]
        console.print(
            f"{'  ' * c['depth']}- {escape(c['kind'])} [dim]{c['token_count']} tok[/dim] {escape(text)}",
            highlight=False,
        )
    console.print(f"\n[bold]{len(result['bundles'])} bundles[/bold]")
    for b in result["bundles"]:
        console.print(
            f"[bold]#{b['seq']}[/bold] {escape(b['title'])} [dim]{b['token_count']} tok, "
            f"{len(b['component_ids'])} components[/dim]",
            highlight=False,
        )
        for ch in b["chunks"]:
            text = " ".join(ch["text"].split())
            console.print(
                f"    chunk {ch['seq']} [dim][{ch['char_start']}:{ch['char_end']}] "
                f"{ch['token_count']} tok[/dim] {escape(text[:60])}{'…' if len(text) > 60 else ''}",
                highlight=False,
            )


if __name__ == "__main__":
    app()
