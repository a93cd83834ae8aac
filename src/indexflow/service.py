"""The facade used by the CLI, the HTTP API and library users.

from indexflow import Indexflow
ix = Indexflow()                       # settings from the environment, embedded default
report = ix.ingest(["./docs"], dataset="default", wait=True)
for hit in ix.search("how do I install it?", k=5):
    print(hit.score, hit.document.source, hit.text)
ix.documents.list(dataset="default")   # and ix.plans, ix.chunks, ix.profiles, ix.maintenance
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from indexflow.db import documents as docs_repo
from indexflow.db import plans as plans_repo
from indexflow.db import profiles as profiles_repo
from indexflow.domain import metadata as md
from indexflow.encoders.base import Encoder
from indexflow.errors import IndexflowError, InvalidRequest, NotFound, NoWorkers, invalid_request
from indexflow.limits import FINGERPRINT_MAX
from indexflow.manage import Chunks, Context, Documents, Keys, Maintenance, Plans, Profiles, Webhooks
from indexflow.manage.export import Export
from indexflow.manage.metrics import Metrics
from indexflow.pipeline.register import Registration, check_dataset, register_source
from indexflow.query.evaluate import QueriesArg, evaluate, load_queries
from indexflow.query.search import search, search_documents
from indexflow.runtime import Runtime
from indexflow.settings import Settings
from indexflow.sources import Source, UriPolicy, basename, expand
from indexflow.sources.local import sidecar_metadata
from indexflow.stores.base import VectorStore
from indexflow.tasks.runner import TaskRunner
from indexflow.tasks.webhooks import flush_recorded
from indexflow.views import (
    DocumentGroup,
    DocumentReport,
    EvalReport,
    GateResult,
    Hit,
    IngestReport,
    PlanView,
    Progress,
    Registered,
    document_status,
)


@dataclass(slots=True)
class _Pending:
    source: str
    registration: Registration | None = None
    error: str | None = None
    plan_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Listing:
    """What an ingest's listing saw: every source listed, and the roots listed without error."""

    seen: set[str] = field(default_factory=set)
    complete: list[str] = field(default_factory=list)


class Indexflow:
    """Ingest, follow and search an index; the same code on every backend.

    Management lives in small collaborators: ``documents``, ``plans``, ``chunks``,
    ``profiles``, ``maintenance`` (purge, reconcile, workers, health), ``keys`` and ``webhooks``.

    Args:
        settings: effective settings; by default read from the environment.
        store: a vector store to use instead of the configured one (e.g.
            ``indexflow.testing.MemoryStore()``).
        encoder: an encoder serving every profile instead of the profile's model (e.g.
            ``indexflow.testing.HashEncoder()``).
        **overrides: field overrides for ``Settings`` (e.g. ``home="./state"``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: VectorStore | None = None,
        encoder: Encoder | None = None,
        **overrides: Any,
    ) -> None:
        base = settings or Settings()
        # Re-validated (not model_copy) so overrides are coerced like the environment is.
        self.settings = Settings(**(base.model_dump() | overrides)) if overrides else base
        self.rt = Runtime(self.settings, store=store, encoder=encoder)
        self.rt.ensure_schema()
        self._tasks: TaskRunner | None = None
        self._ctx = Context(self.rt, lambda: self.tasks)
        self.documents = Documents(self._ctx)
        self.plans = Plans(self._ctx)
        self.chunks = Chunks(self._ctx)
        self.profiles = Profiles(self._ctx)
        self.maintenance = Maintenance(self._ctx, self.plans)
        self.keys = Keys(self._ctx)  # API keys for the HTTP API (the library ignores them)
        self.metrics = Metrics(self._ctx)  # Prometheus exposition (docs/operations.md)
        self.webhooks = Webhooks(self._ctx)  # signed event notifications (docs/webhooks.md)
        self.export = Export(self._ctx)  # searchable chunks as rows / JSONL / Parquet

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def tasks(self) -> TaskRunner:
        """The broker, actors and outbox (built on first use)."""
        if self._tasks is None:
            self._tasks = TaskRunner(self.rt)
        return self._tasks

    @property
    def in_process(self) -> bool:
        """True without a broker: this process is the worker (the embedded default)."""
        return not self.settings.broker_url

    def start_worker(self) -> None:
        """Run the in-process worker threads now (``serve`` does; ``ingest`` does by itself)."""
        self.tasks.start_worker(self.settings.in_process_threads)

    def close(self) -> None:
        if self._tasks is not None:
            self._tasks.close()
            self._tasks = None
        else:
            flush_recorded(self.rt)  # webhook events recorded without a task runner (e.g. a purge)
        self.rt.close()

    def __enter__(self) -> Indexflow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest -----------------------------------------------------------------------------------
    def enqueue_source(
        self,
        source: Source | str,
        *,
        dataset: str = "default",
        data: bytes | None = None,
        profiles: list[str] | None = None,
        policy: UriPolicy | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Registered:
        """Register one document (path, URI or uploaded bytes) and send its work; never waits.

        ``metadata`` (key/value pairs, see :mod:`indexflow.domain.metadata`) is stored with the
        version and filterable in search; a local file's ``NAME.meta.json`` sidecar adds to it.
        A ``policy`` (the HTTP API's) checks a source a remote caller named before anything is
        read or registered, and reads it (``InvalidRequest`` when it refuses).
        """
        return self._view(
            self._register(
                source, dataset=dataset, data=data, profiles=profiles, policy=policy, metadata=metadata
            )
        )

    def _register(
        self,
        source: Source | str,
        *,
        dataset: str,
        data: bytes | None = None,
        profiles: list[str] | None = None,
        policy: UriPolicy | None = None,
        metadata: Mapping[str, Any] | None = None,
        fingerprint: str | None = None,
    ) -> Registration:
        if policy is not None and data is None:
            # checked before expand(): a refused path is not even looked at
            src = policy.source(source.source if isinstance(source, Source) else str(source))
        elif isinstance(source, Source):
            src = source
        elif data is not None:
            src = Source(str(source), basename(str(source)))
        else:
            found = list(expand([source]))
            text = str(source)
            single = len(found) == 1 and (
                "://" in text or found[0].source == str(Path(text).expanduser().resolve())
            )
            if not single:
                raise InvalidRequest(f"{source}: not a single document; use ingest() for folders")
            src = found[0]
        self._ctx.own_home()
        with invalid_request():
            given = md.normalize(metadata)
        if data is None and policy is None:
            given = {**given, **sidecar_metadata(src.source)}  # the file's own sidecar is more specific
        try:
            payload = data if data is not None else src.read(self.settings.max_document_bytes, policy)
        except OSError as exc:
            raise InvalidRequest(f"{src.source}: cannot read: {exc.strerror or exc}") from exc
        reg = register_source(
            self.rt,
            dataset=dataset,
            source=src.source,
            data=payload,
            filename=src.filename,
            profiles=profiles,
            metadata=given,
            fingerprint=fingerprint,
        )
        self._ctx.send(reg.applied)
        return reg

    @staticmethod
    def _view(reg: Registration) -> Registered:
        return Registered(
            document_id=reg.document_id, version_id=reg.version_id, plan_ids=reg.plan_ids, outcome=reg.outcome
        )

    def ingest(
        self,
        paths: Iterable[str] | str,
        *,
        dataset: str = "default",
        wait: bool = True,
        profiles: list[str] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        timeout: float | None = None,
        require_workers: bool = True,
        metadata: Mapping[str, Any] | None = None,
        sync: bool = False,
    ) -> IngestReport:
        """Ingest files, folders (recursively) and URIs (``s3://bucket/prefix/``: every object
        under it) into ``dataset``.

        A source whose fingerprint (ETag, or size and mtime) and metadata are those recorded
        when it was last read, and whose plans are serving or building, is reported
        ``unchanged`` without being read (no download).

        With ``sync``, every active document of the dataset whose source lies under one of
        ``paths`` (a folder, a URI prefix) and was not listed this time is deactivated (listed
        in the report's ``deactivated``); a path whose listing failed deactivates nothing.

        ``metadata`` is given to every document (a file's ``NAME.meta.json`` sidecar overrides
        its keys for that file); an invalid one raises ``InvalidRequest`` before anything is read.

        Each document is committed and its work enqueued one at a time (memory stays flat). With
        ``wait`` the call follows progress in the database until every plan has finished.

        With a broker, a needed queue without a live worker raises ``NoWorkers`` before anything
        is registered, unless ``require_workers`` is false (register now, wait for a worker).
        A dataset name that does not fit (``indexflow.limits``) raises ``InvalidRequest`` first.

        Returns:
            A report with one entry per document: its status, plans and any error.
        """
        if isinstance(paths, str):
            paths = [paths]
        with invalid_request():
            metadata = md.normalize(metadata)
        with self._ctx.read() as s:
            check_dataset(s, dataset)  # one clear error before any document is read
        if not self.in_process and require_workers:
            missing = self.maintenance.missing_workers(wait=self.settings.worker_wait_seconds)
            if missing:
                raise NoWorkers(
                    f"no worker is listening on {', '.join(missing)}; start one with `indexflow worker` "
                    "(or ingest with --keep-waiting to register now and wait for one)"
                )
        if self.in_process:
            # This process is the worker: start it now, so plans left unfinished by an earlier run
            # (killed mid-ingest) are resumed even if every file is unchanged this time.
            self.start_worker()
        pending: list[_Pending] = []
        next_report = 0.0
        skipped: list[str] = []
        listing = _Listing()
        for src in _safe_expand(paths, pending, skipped, listing):
            entry = _Pending(src.source)
            try:
                entry.registration = self._ingest_one(
                    src, dataset=dataset, profiles=profiles, metadata=metadata
                )
                entry.plan_ids = entry.registration.plan_ids
            except IndexflowError as exc:
                entry.error = str(exc)
            except OSError as exc:
                entry.error = f"{src.source}: {exc.strerror or exc}"
            pending.append(entry)
            if on_progress is not None and time.monotonic() >= next_report:
                # Throttled: a progress read per document would cost O(n²) on big corpora.
                on_progress(self.progress([p for e in pending for p in e.plan_ids], registered=len(pending)))
                next_report = time.monotonic() + 0.5
        deactivated = self._sync(dataset, listing, skipped) if sync else []
        plan_ids = [p for e in pending for p in e.plan_ids]
        if wait:
            self.wait(plan_ids, on_progress=on_progress, timeout=timeout, registered=len(pending))
        return self._report(dataset, pending, skipped, deactivated)

    def _ingest_one(
        self, src: Source, *, dataset: str, profiles: list[str] | None, metadata: Mapping[str, Any]
    ) -> Registration:
        """Register one listed source, or skip it unread when its fingerprint says it is unchanged."""
        fingerprint = None
        if src.fingerprint is not None:
            # Metadata is part of a version's identity: the same look with other metadata is a change.
            given = {**metadata, **sidecar_metadata(src.source)}
            fingerprint = f"{src.fingerprint}|{md.identity(given)}"
            if len(fingerprint) > FINGERPRINT_MAX:
                fingerprint = "sha256:" + hashlib.sha256(fingerprint.encode()).hexdigest()
            with self._ctx.read() as s:
                found = None
                dataset_id = docs_repo.find_dataset_id(s, dataset)
                if dataset_id is not None:
                    if profiles:
                        wanted = [profiles_repo.get_by_name(s, name).id for name in profiles]
                    else:
                        wanted = [p.id for p in profiles_repo.active(s)]
                    found = docs_repo.find_unchanged(s, dataset_id, src.source, fingerprint, wanted)
            if found is not None:
                return Registration(found.document_id, found.version_id, found.plan_ids, "unchanged")
        return self._register(
            src, dataset=dataset, profiles=profiles, metadata=metadata, fingerprint=fingerprint
        )

    def _sync(self, dataset: str, listing: _Listing, skipped: list[str]) -> list[str]:
        """Deactivate the dataset's documents under a completely listed root that it no longer lists."""
        # An unsupported file is there all the same (a folder's skipped files are listed unresolved).
        seen = listing.seen | {p if "://" in p else str(Path(p).resolve()) for p in skipped}
        gone: dict[int, str] = {}
        with self._ctx.read() as s:
            dataset_id = docs_repo.find_dataset_id(s, dataset)
            if dataset_id is None:
                return []
            for root in listing.complete:
                exact, prefix = _scope(root)
                for document_id, source in docs_repo.active_under(s, dataset_id, exact, prefix):
                    if source not in seen:
                        gone[document_id] = source
        out: list[str] = []
        for document_id, source in sorted(gone.items(), key=lambda item: item[1]):
            try:
                self.documents.deactivate(document_id)
            except NotFound:
                continue  # deleted meanwhile: gone all the same, but not by us
            out.append(source)
        return out

    def wait(
        self,
        plan_ids: list[int],
        *,
        on_progress: Callable[[Progress], None] | None = None,
        timeout: float | None = None,
        registered: int | None = None,
        poll: float = 0.25,
    ) -> Progress:
        """Block until every plan in ``plan_ids`` is EMBEDDED or FAILED (state read from the DB).

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        # Large waits poll less often: each poll reads every plan's row. Small ones start fast
        # and back off, so a plan that finishes in 50 ms is not reported 250 ms late.
        longest = poll if len(plan_ids) < 500 else max(poll, 1.0)
        interval = min(0.02, longest)
        while True:
            prog = self.progress(plan_ids, registered=registered)
            if on_progress is not None:
                on_progress(prog)
            if prog.finished:
                return prog
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{prog.plans_total - prog.plans_done} plans still running")
            time.sleep(interval)
            interval = min(interval * 1.5, longest)

    def progress(self, plan_ids: list[int], *, registered: int | None = None) -> Progress:
        """Where these plans stand: parsed, bundled, embedded chunks, done and failed."""
        with self._ctx.read() as s:
            return Progress.of(plans_repo.progress_rows(s, plan_ids), registered=registered)

    def _report(
        self, dataset: str, pending: list[_Pending], skipped: list[str], deactivated: list[str]
    ) -> IngestReport:
        docs: list[DocumentReport] = []
        with self._ctx.read() as s:
            for e in pending:
                if e.registration is None:
                    docs.append(DocumentReport(source=e.source, status="FAILED", error=e.error))
                    continue
                doc = docs_repo.get_document(s, e.registration.document_id)
                plans = [plans_repo.get(s, pid) for pid in e.plan_ids]
                docs.append(
                    DocumentReport(
                        source=e.source,
                        document_id=doc.id,
                        title=doc.title,
                        dataset=dataset,
                        outcome=e.registration.outcome,
                        status=document_status(plans),
                        plans=[PlanView.of(p) for p in plans],
                        error=next((p.last_error for p in plans if p.last_error), None),
                    )
                )
        return IngestReport(dataset=dataset, documents=docs, skipped=skipped, deactivated=deactivated)

    # -- read -------------------------------------------------------------------------------------
    @overload
    def search(
        self,
        query: str,
        *,
        dataset: str = ...,
        k: int = ...,
        profile: str | None = ...,
        document_ids: list[int] | None = ...,
        mode: str | None = ...,
        max_per_document: int | None = ...,
        where: Mapping[str, Any] | None = ...,
        full_bundle: bool = ...,
        group_by: None = ...,
    ) -> list[Hit]: ...

    @overload
    def search(
        self,
        query: str,
        *,
        dataset: str = ...,
        k: int = ...,
        profile: str | None = ...,
        document_ids: list[int] | None = ...,
        mode: str | None = ...,
        max_per_document: int | None = ...,
        where: Mapping[str, Any] | None = ...,
        full_bundle: bool = ...,
        group_by: Literal["document"],
    ) -> list[DocumentGroup]: ...

    def search(
        self,
        query: str,
        *,
        dataset: str = "default",
        k: int = 10,
        profile: str | None = None,
        document_ids: list[int] | None = None,
        mode: str | None = None,
        max_per_document: int | None = None,
        where: Mapping[str, Any] | None = None,
        full_bundle: bool = False,
        group_by: str | None = None,
    ) -> list[Hit] | list[DocumentGroup]:
        """The ``k`` best chunks for ``query`` among the dataset's searchable documents.

        Args:
            profile: the index profile to search (default: the one ``profiles default`` set,
                else the ``default_profile`` setting).
            mode: ``dense``, ``sparse`` (BM25) or ``hybrid`` (both, reciprocal rank fusion);
                default ``hybrid`` when the profile has a lexical leg, else ``dense``.
            max_per_document: at most this many chunks of one document (0: no limit);
                default the ``max_per_document`` setting.
            where: a metadata filter: ``{"team": "ops"}`` (equality), ``{"tag": ["a", "b"]}``
                (any of), ``{"year": {"gte": 2020, "lt": 2024}}`` or ``{"published": {"gte":
                "2024-01-01"}}`` (ranges on numbers and dates); all must hold. A key no document
                of the dataset has, or a value that does not fit its kind, raises InvalidRequest.
            full_bundle: each hit's ``bundle.text`` is its whole bundle (by default a window of
                at most ``hit_context_chars`` characters around the chunk).
            group_by: ``"document"`` returns the ``k`` best documents instead, each with its
                top chunks (``max_per_document`` of them, default 3) as evidence.
        """
        common: dict[str, Any] = {
            "dataset": dataset,
            "k": k,
            "profile": profile,
            "document_ids": document_ids,
            "mode": mode,
            "max_per_document": max_per_document,
            "where": where,
            "full_bundle": full_bundle,
        }
        if group_by is None:
            return search(self.rt, query, **common)
        if group_by != "document":
            raise InvalidRequest(f"group_by must be 'document' (or omitted), not {group_by!r}")
        return search_documents(self.rt, query, **common)

    def evaluate(
        self,
        queries: QueriesArg,
        *,
        dataset: str = "default",
        profiles: list[str] | None = None,
        k: int = 10,
        mode: str | None = None,
        max_per_document: int | None = None,
    ) -> EvalReport:
        """Measure retrieval on judged queries: hit@1, hit@5, hit@K, MRR@K, nDCG@K, recall@K.

        Args:
            queries: a JSONL judgments file (``{"query": …, "relevant": [source, …]}`` a
                line), a BEIR folder, or the query objects themselves (``query.evaluate``).
            profiles: profiles to compare side by side (default: the one search uses).
        """
        return evaluate(
            self.rt,
            queries,
            dataset=dataset,
            profiles=profiles,
            k=k,
            mode=mode,
            max_per_document=max_per_document,
        )

    def switch_default(
        self,
        name: str,
        *,
        gate: QueriesArg | None = None,
        margin: float = 0.01,
        k: int = 10,
        dataset: str = "default",
        timeout: float | None = None,
    ) -> GateResult:
        """Make ``name`` the profile search uses; with ``gate``, only if it is no worse.

        With ``gate`` (judged queries, as for ``evaluate``): activates the candidate if needed,
        waits until its plans are EMBEDDED (or FAILED), evaluates it and the current default,
        and switches only if none of hit@K, MRR@K and nDCG@K is worse by more than ``margin``.

        Raises:
            NotFound: no profile ``name``.
            TimeoutError: the candidate's plans did not finish within ``timeout`` seconds.
        """
        if margin < 0:
            raise InvalidRequest("margin must be 0 or more")
        candidate = self.profiles.get(name)
        current = self.profiles.default()
        previous = current.name if current is not None else None
        if gate is None or previous is None or previous == name:
            chosen = self.profiles.set_default(name)
            return GateResult(
                switched=previous != name,
                default=chosen.name,
                candidate=name,
                previous=previous,
                margin=margin,
                candidate_metrics={},
                previous_metrics=None,
                worse=[],
            )
        queries = load_queries(gate)  # refuse bad judgments before building anything
        if not candidate.is_active:
            self.profiles.activate(name)
        building = self.profiles.building(name)
        if building:
            self.wait(building, timeout=timeout)
        report = self.evaluate(queries, dataset=dataset, profiles=[name, previous], k=k)
        new, old = report.profiles[0].metrics, report.profiles[1].metrics
        gated = [f"hit@{k}", f"mrr@{k}", f"ndcg@{k}"]
        worse = [m for m in gated if new[m] < old[m] - margin]
        if not worse:
            self.profiles.set_default(name)
        return GateResult(
            switched=not worse,
            default=previous if worse else name,
            candidate=name,
            previous=previous,
            margin=margin,
            candidate_metrics=new,
            previous_metrics=old,
            worse=worse,
        )


def _safe_expand(
    paths: Iterable[str], pending: list[_Pending], skipped: list[str], listing: _Listing
) -> Iterator[Source]:
    """Every source under ``paths``; a path that fails to list is an entry with its error."""
    for p in paths:
        walk_errors: list[OSError] = []
        try:
            for src in expand([p], skipped, walk_errors):
                listing.seen.add(src.source)
                yield src
        except IndexflowError as exc:
            pending.append(_Pending(str(p), error=str(exc)))
            continue
        except OSError as exc:
            pending.append(_Pending(str(p), error=f"{p}: cannot list: {exc.strerror or exc}"))
            continue
        for err in walk_errors:  # a folder it could not read: its documents are not "gone"
            where = str(err.filename or p)
            pending.append(_Pending(where, error=f"{where}: cannot list: {err.strerror or err}"))
        if not walk_errors:
            listing.complete.append(str(p))


def _scope(root: str) -> tuple[str, str]:
    """A root's own source and the prefix of every source listed under it."""
    if "://" in root and not root.startswith("file://"):
        from indexflow.sources.remote import prefix_of

        return root, prefix_of(root)
    path = str(Path(root.removeprefix("file://")).expanduser().resolve())
    return path, path.rstrip(os.sep) + os.sep


__all__ = ["Indexflow"]
