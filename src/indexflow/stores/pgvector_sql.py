"""The PGVector adapter's SQL building blocks: connections, table names, error translation and
the WHERE clause of a ``SearchFilter`` (metadata conditions as jsonpath tests)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from typing import Any, Protocol

import psycopg
from psycopg import sql

from indexflow.domain.metadata import Condition
from indexflow.errors import (
    DimensionMismatch,
    IndexflowError,
    NotFound,
    PermanentError,
    StoreUnavailable,
)
from indexflow.stores.base import CollectionSpec, SearchFilter

# distance -> (operator class, distance operator, score = a + b * distance)
DISTANCES = {
    "cosine": ("vector_cosine_ops", "<=>", 1.0, -1.0),
    "dot": ("vector_ip_ops", "<#>", 0.0, -1.0),  # <#> is the negative inner product
    "euclid": ("vector_l2_ops", "<->", 0.0, -1.0),
}


def table_ddl(spec: CollectionSpec, t: sql.Identifier, *, with_hnsw: bool) -> list[sql.Composed]:
    """The statements that create a collection's table and its indexes (the HNSW one only with
    ``with_hnsw``: a first load builds it afterwards, ~5x faster than a live graph)."""
    name = table_name(spec.name)
    lexical: list[sql.Composed] = []
    if spec.lexical:
        lexical.append(
            sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} USING gin (lexical)").format(
                i=sql.Identifier(f"{name}_lex"), t=t
            )
        )
    return [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {t} (id uuid PRIMARY KEY, plan_id bigint, "
            "document_id bigint, dataset_id bigint, chunk_id bigint, "
            "enabled boolean NOT NULL DEFAULT true, payload jsonb NOT NULL DEFAULT '{{}}', "
            "embedding vector({dim}) NOT NULL{lex})"
        ).format(
            t=t,
            dim=sql.Literal(int(spec.dimension)),
            lex=sql.SQL(", lexical tsvector" if spec.lexical else ""),
        ),
        *(
            sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} ({c})").format(
                i=sql.Identifier(f"{name}_{col[:3]}"), t=t, c=sql.Identifier(col)
            )
            for col in ("plan_id", "document_id", "dataset_id")
        ),
        # metadata filters (``payload @? jsonpath``)
        sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} USING gin (payload jsonb_path_ops)").format(
            i=sql.Identifier(f"{name}_meta"), t=t
        ),
        *([hnsw_ddl(spec, t)] if with_hnsw else []),
        *lexical,
        sql.SQL("COMMENT ON TABLE {t} IS {c}").format(t=t, c=sql.Literal(json.dumps(asdict(spec)))),
    ]


def hnsw_ddl(spec: CollectionSpec, t: sql.Identifier) -> sql.Composed:
    """The collection's HNSW index, from the profile's ``m`` and ``ef_construction``."""
    return sql.SQL(
        "CREATE INDEX IF NOT EXISTS {i} ON {t} USING hnsw (embedding {ops}) "
        "WITH (m = {m}, ef_construction = {ef})"
    ).format(
        i=sql.Identifier(f"{table_name(spec.name)}_hnsw"),
        t=t,
        ops=sql.SQL(DISTANCES[spec.distance][0]),
        m=sql.Literal(int(spec.hnsw_m)),
        ef=sql.Literal(int(spec.hnsw_ef_construct)),
    )


class ConnectionSource(Protocol):
    """What a pool offers (``psycopg_pool.ConnectionPool`` fits): a connection per ``with``."""

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]: ...


class SimplePool:
    """Reuses up to ``max_idle`` connections; commit on success, roll back on error."""

    def __init__(self, dsn: str, max_idle: int = 4) -> None:
        self._dsn, self._max_idle = dsn, max_idle
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            conn = psycopg.connect(self._dsn, connect_timeout=10)
        try:
            yield conn
            conn.commit()
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise
        finally:
            with self._lock:
                if not conn.closed and not conn.broken and len(self._idle) < self._max_idle:
                    self._idle.append(conn)
                    conn = None
            if conn is not None:
                conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def normalise_dsn(url: str) -> str:
    """Accept SQLAlchemy URLs too: ``postgresql+psycopg://`` → ``postgresql://``."""
    return re.sub(r"^(postgres(?:ql)?)\+\w+://", r"\1://", url)


_JSONPATH_OPS = {"eq": "==", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _jsonpath(c: Condition) -> str:
    """A metadata condition as a jsonpath predicate on ``payload`` (``@?``: the GIN index on
    ``payload`` serves equality; lax mode tests each item of a list value).

    The key is ``[A-Za-z0-9_]`` (``store_key``) and each value a JSON literal, so nothing a user
    wrote reaches the path unquoted.
    """
    values = c.value if c.op == "in" else [c.value]
    op = "==" if c.op == "in" else _JSONPATH_OPS[c.op]
    tests = " || ".join(f"@ {op} {_literal(v)}" for v in values)
    return f"$.meta.{c.field} ? ({tests})"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | int):
        return repr(float(value))
    return json.dumps(str(value), ensure_ascii=True)


def table_name(collection: str) -> str:
    """Deterministic, safe table name; a hash keeps altered or long names distinct."""
    base = re.sub(r"[^a-z0-9_]", "_", collection.lower())
    name = f"indexflow_vec_{base}"
    # 54 leaves room for index suffixes within PostgreSQL's 63-byte identifiers.
    if base != collection or len(name) > 54:
        name = f"{name[:45]}_{hashlib.sha1(collection.encode()).hexdigest()[:8]}"
    return name


@contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except IndexflowError:
        raise
    except psycopg.OperationalError as exc:  # connection lost/refused, timeouts, deadlocks
        raise StoreUnavailable(f"pgvector {what}: {exc}") from exc
    except psycopg.errors.UndefinedTable as exc:
        raise NotFound(f"pgvector {what}: {exc}") from exc
    except psycopg.DataError as exc:
        cls = DimensionMismatch if "dimensions" in str(exc) else PermanentError
        raise cls(f"pgvector {what}: {exc}") from exc
    except (psycopg.Error, ValueError) as exc:
        raise PermanentError(f"pgvector {what}: {exc}") from exc


def where_clause(filters: SearchFilter | None) -> tuple[sql.Composable, list[Any]]:
    clauses: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    if filters is not None:
        for col, ids in (
            ("dataset_id", filters.dataset_ids),
            ("document_id", filters.document_ids),
            ("plan_id", filters.plan_ids),
        ):
            if ids is not None:
                clauses.append(sql.SQL("{c} = ANY(%s::bigint[])").format(c=sql.Identifier(col)))
                params.append([int(i) for i in ids])
        if filters.only_enabled:
            clauses.append(sql.SQL("enabled"))
        for condition in filters.metadata:
            clauses.append(sql.SQL("payload @? %s::jsonpath"))
            params.append(_jsonpath(condition))
    return sql.SQL(" AND ").join(clauses), params
