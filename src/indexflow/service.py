"""The facade used by the CLI, the HTTP API and library users.

from indexflow import Indexflow
ix = Indexflow()                       # settings from the environment, embedded default
report = ix.ingest(["./docs"], dataset="default", wait=True)
for hit in ix.search("how do I install it?", k=5):
    print(hit.score, hit.document.source, hit.text)
ix.documents.list(dataset="default")   # and ix.plans, ix.chunks, ix.profiles, ix.maintenance
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

from indexflow.encoders.base import Encoder
from indexflow.errors import InvalidRequest
from indexflow.manage import Chunks, Context, Documents, Keys, Maintenance, Plans, Profiles, Webhooks
from indexflow.manage.export import Export
from indexflow.manage.ingest import Ingestion
from indexflow.manage.metrics import Metrics
from indexflow.query.evaluate import QueriesArg, evaluate, load_queries
from indexflow.query.search import search, search_documents
from indexflow.runtime import Runtime
from indexflow.settings import Settings
from indexflow.sources import Source, UriPolicy
from indexflow.stores.base import VectorStore

if TYPE_CHECKING:  # the runner imports dramatiq: only the commands that run work load it
    from indexflow.tasks.runner import TaskRunner
from indexflow.views import (
    DocumentGroup,
    EvalReport,
    GateResult,
    Hit,
    IngestReport,
    Progress,
    Registered,
)


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
        self._ingestion = Ingestion(self._ctx, self.documents, self.maintenance, self.start_worker)

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def tasks(self) -> TaskRunner:
        """The broker, actors and outbox (built on first use)."""
        if self._tasks is None:
            from indexflow.tasks.runner import TaskRunner

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
            from indexflow.tasks.webhooks import flush_recorded

            flush_recorded(self.rt)  # webhook events recorded without a task runner (e.g. a purge)
        self.rt.close()

    def __enter__(self) -> Indexflow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest (manage/ingest.py) ---------------------------------------------------------------
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
        return self._ingestion.enqueue(
            source, dataset=dataset, data=data, profiles=profiles, policy=policy, metadata=metadata
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
        return self._ingestion.ingest(
            paths,
            dataset=dataset,
            wait=wait,
            profiles=profiles,
            on_progress=on_progress,
            timeout=timeout,
            require_workers=require_workers,
            metadata=metadata,
            sync=sync,
        )

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
        return self._ingestion.wait(
            plan_ids, on_progress=on_progress, timeout=timeout, registered=registered, poll=poll
        )

    def progress(self, plan_ids: list[int], *, registered: int | None = None) -> Progress:
        """Where these plans stand: parsed, bundled, embedded chunks, done and failed."""
        return self._ingestion.progress(plan_ids, registered=registered)

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


__all__ = ["Indexflow"]
