"""Export: a dataset's searchable chunks as flat rows (``ix.export``, ``indexflow export``).

Texts, spans, titles and ids come from the database (one read transaction, streamed). Vectors
come from the vector store only if it can hand them back: the ``VectorStore`` port has no read
of vectors, so a store that offers ``get_vectors(collection, ids)`` (``VectorReader``; the
``MemoryStore`` double does) is asked; with any other, ``vectors_readable`` is false and rows
carry ``vector=None``. Nothing is re-encoded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from indexflow.db import documents as docs_repo
from indexflow.db import export as export_repo
from indexflow.db import profiles as profiles_repo
from indexflow.db.models import Bundle, Chunk, Document
from indexflow.errors import InvalidRequest, NotFound
from indexflow.manage.context import Context
from indexflow.views.export import ExportRow

FORMATS = ("jsonl", "parquet")
_BATCH = 500


@runtime_checkable
class VectorReader(Protocol):
    """A store that can give stored vectors back (optional; not part of ``VectorStore``)."""

    def get_vectors(self, collection: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """Point id -> vector for the ids that exist (missing ids are left out)."""
        ...


class Export:
    """``ix.export``: stream a dataset's searchable chunks (``ix.export("docs")`` is
    ``ix.export.rows("docs")``), or write them to a file (``ix.export.write``)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def __call__(
        self, dataset: str, *, profile: str | None = None, vectors: bool = False
    ) -> Iterator[ExportRow]:
        return self.rows(dataset, profile=profile, vectors=vectors)

    @property
    def vectors_readable(self) -> bool:
        """Whether the configured vector store can hand stored vectors back."""
        return isinstance(self._ctx.store, VectorReader)

    def rows(self, dataset: str, *, profile: str | None = None, vectors: bool = False) -> Iterator[ExportRow]:
        """Every chunk search may show in ``dataset`` (for ``profile``, default the one search
        uses), in document, plan and chunk order; memory stays flat however big the dataset.

        With ``vectors`` each row carries its stored vector when the store can read them
        (``vectors_readable``), else ``None``.

        Raises:
            NotFound: no dataset ``dataset`` or no profile ``profile``.
        """
        reader = self._ctx.store if vectors and isinstance(self._ctx.store, VectorReader) else None
        with self._ctx.read() as s:
            ds = docs_repo.get_dataset(s, dataset)
            prof = (
                profiles_repo.get_by_name(s, profile)
                if profile
                else profiles_repo.search_default(s, self._ctx.settings.default_profile)
            )
            if prof is None:
                raise NotFound("no index profile exists")
            names = (ds.name, prof.name, prof.collection)
            batch: list[ExportRow] = []
            for chunk, bundle, doc, meta in export_repo.active_chunks(s, ds.id, prof.id, batch=_BATCH):
                batch.append(_row(names[0], names[1], chunk, bundle, doc, meta))
                if len(batch) >= _BATCH:
                    yield from _with_vectors(reader, names[2], batch)
                    batch = []
            yield from _with_vectors(reader, names[2], batch)

    def write(
        self,
        dataset: str,
        out: IO[str] | str | Path,
        *,
        fmt: str = "jsonl",
        profile: str | None = None,
        vectors: bool = False,
    ) -> int:
        """Write the rows of ``rows()`` to ``out`` (a text stream for JSONL, or a path) as
        ``jsonl`` (one JSON object a line) or ``parquet`` (needs pyarrow:
        ``pip install 'indexflow[parquet]'``); returns the number of rows.

        Raises:
            InvalidRequest: an unknown format, parquet without pyarrow or to a stream.
        """
        if fmt not in FORMATS:
            raise InvalidRequest(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        rows = self.rows(dataset, profile=profile, vectors=vectors)
        if fmt == "parquet":
            if not isinstance(out, str | Path):
                raise InvalidRequest("parquet is written to a file: give a path (--out FILE)")
            return _write_parquet(rows, Path(out), vectors)
        if isinstance(out, str | Path):
            with open(out, "w", encoding="utf-8") as fh:
                return _write_jsonl(rows, fh)
        return _write_jsonl(rows, out)


def _row(
    dataset: str, profile: str, chunk: Chunk, bundle: Bundle, doc: Document, meta: dict[str, Any] | None
) -> ExportRow:
    return ExportRow(
        metadata=meta or {},
        dataset=dataset,
        profile=profile,
        document_id=doc.id,
        source=doc.source,
        title=doc.title,
        plan_id=chunk.plan_id,
        bundle_id=bundle.id,
        bundle_title=bundle.title,
        bundle_paths=list(bundle.paths),
        chunk_id=chunk.id,
        seq=chunk.seq,
        point_id=chunk.point_id,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
        token_count=chunk.token_count,
        text=chunk.text,
    )


def _with_vectors(reader: VectorReader | None, collection: str, batch: list[ExportRow]) -> list[ExportRow]:
    if reader is None or not batch:
        return batch
    found = reader.get_vectors(collection, [r.point_id for r in batch])
    return [r.model_copy(update={"vector": _floats(found.get(r.point_id))}) for r in batch]


def _floats(vector: Sequence[float] | None) -> list[float] | None:
    return None if vector is None else [float(x) for x in vector]


def _write_jsonl(rows: Iterator[ExportRow], out: IO[str]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
        n += 1
    return n


def _write_parquet(rows: Iterator[ExportRow], path: Path, vectors: bool) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InvalidRequest(
            "parquet export needs pyarrow: pip install 'indexflow[parquet]' (or use --format jsonl)"
        ) from exc
    fields: list[Any] = [
        ("dataset", pa.string()),
        ("profile", pa.string()),
        ("document_id", pa.int64()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("plan_id", pa.int64()),
        ("bundle_id", pa.int64()),
        ("bundle_title", pa.string()),
        ("bundle_paths", pa.list_(pa.string())),
        ("chunk_id", pa.int64()),
        ("seq", pa.int64()),
        ("point_id", pa.string()),
        ("char_start", pa.int64()),
        ("char_end", pa.int64()),
        ("token_count", pa.int64()),
        ("text", pa.string()),
        ("metadata", pa.string()),  # JSON: its keys and kinds differ from document to document
    ]
    if vectors:
        fields.append(("vector", pa.list_(pa.float32())))
    schema = pa.schema(fields)
    names = [name for name, _ in fields]
    n = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        batch: list[dict[str, Any]] = []
        for row in rows:
            record = row.model_dump(include=set(names))
            record["metadata"] = json.dumps(record["metadata"], ensure_ascii=False)
            batch.append(record)
            if len(batch) >= _BATCH:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                n += len(batch)
                batch = []
        if batch or n == 0:
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
            n += len(batch)
    return n
