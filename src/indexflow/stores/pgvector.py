"""PostgreSQL + pgvector through psycopg 3: one table per collection.

Table ``<schema>.indexflow_vec_<collection>``: ``id uuid`` primary key, the filter fields as
bigint/bool columns (btree-indexed), the whole payload as ``jsonb`` (GIN, for metadata filters)
and ``embedding vector(dim)`` under an HNSW index built from the profile's ``m``/``ef_construction``
once the collection's first load is over (``build_index``; exact search until then). The SQL
text itself (DDL, filters, connections, error translation) is in ``pgvector_sql.py``. A lexical
collection (``CollectionSpec.lexical``) adds ``lexical tsvector`` under a GIN index:
``to_tsvector('english', text)`` of each point's ``text``, computed in SQL from a text column of
the staging table (NULL when the text has no terms). ``search_lexical`` ORs the query's lexemes
and scores ``sum over matched lexemes of idf * ts_rank_cd(lexical, lexeme, 1)`` (``ts_rank_cd``
normalisation 1: divided by 1 + log(document length)), with Qdrant's IDF over the table's rows.

Writes are a binary COPY into a temp table, then ``INSERT ... ON CONFLICT (id) DO UPDATE``, so a
retried batch overwrites. When the vectors live in the state database, pass the caller's
SQLAlchemy session to ``upsert_in`` (the ``TransactionalStore`` port) so a batch's vectors and
its chunks' status commit in one transaction::

    with session_factory.begin() as session:
        store.upsert_in(session, collection, points)
        session.execute(update(Chunk).where(...).values(status="EMBEDDED"))
    # one COMMIT covers both; on error both roll back
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from indexflow.errors import (
    ConfigurationError,
    DimensionMismatch,
    InvalidRequest,
    NotFound,
    PermanentError,
)
from indexflow.stores.base import CollectionSpec, SearchFilter, StoreHit, VectorPoint
from indexflow.stores.pgvector_sql import (
    DISTANCES,
    ConnectionSource,
    SimplePool,
    hnsw_ddl,
    normalise_dsn,
    table_ddl,
    table_name,
    translated,
    where_clause,
)

log = logging.getLogger(__name__)

_COLUMNS = ("id", "plan_id", "document_id", "dataset_id", "chunk_id", "enabled", "payload", "embedding")
_COPY_TYPES = ["uuid", "int8", "int8", "int8", "int8", "bool", "jsonb", "vector"]
_TEXT = "indexflow_text"  # the staging table's extra column: the text the lexical leg indexes
# One lexeme ``l`` as a one-term tsquery, quoted for tsquery input (backslashes and quotes
# doubled; chr(39) is ', chr(92) is \), so no caller text is ever read as tsquery syntax
# (&, |, !, :*, <->); the text itself only ever travels as a bound parameter.
_LEXEME_QUERY = (
    "concat(chr(39), replace(replace(l, chr(92), repeat(chr(92), 2)), chr(39), repeat(chr(39), 2)), "
    "chr(39))::tsquery"
)
_INSTALL_HINT = "pgvector is not installed in this PostgreSQL server; run scripts/install_pgvector.sh"


class PgVectorStore:
    """Vector store in PostgreSQL with pgvector.

    Args:
        dsn: libpq/SQLAlchemy URL, or a pool with ``connection()`` (e.g. psycopg_pool).
        schema: schema of the collection tables (must exist).
        defer_index: a new collection's HNSW index is built by ``build_index`` once its first
            load is over (the pipeline calls it when no plan of the profile is still building),
            not kept live while the first points go in; later loads insert into the live index.
    """

    def __init__(
        self, dsn: str | ConnectionSource, schema: str = "public", *, defer_index: bool = True
    ) -> None:
        self._own_pool = isinstance(dsn, str)
        self._defer_index = defer_index
        self._built: set[str] = set()  # collections whose HNSW index exists
        self._pool: Any = SimplePool(normalise_dsn(dsn)) if isinstance(dsn, str) else dsn
        self._schema = schema
        self._specs: dict[str, CollectionSpec] = {}
        self._iterative: bool | None = None  # pgvector >= 0.8 (hnsw.iterative_scan), once known

    # -- connections and metadata ---------------------------------------------------------

    def _ensure_extension(self) -> None:
        if self._iterative is not None:
            return
        with translated("create extension"), self._pool.connection() as conn:
            # Workers starting together on a fresh database would race on CREATE EXTENSION.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('indexflow:create extension vector'))")
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
            if row is None:
                try:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except (psycopg.errors.UndefinedFile, psycopg.errors.FeatureNotSupported) as exc:
                    raise ConfigurationError(_INSTALL_HINT) from exc
                except psycopg.errors.InsufficientPrivilege as exc:
                    raise ConfigurationError(f"a superuser must run CREATE EXTENSION vector: {exc}") from exc
                row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        version = tuple(int(x) for x in re.findall(r"\d+", row[0])[:2]) if row else (0, 0)
        self._iterative = version >= (0, 8)

    def _prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Teach ``conn`` the vector type (once per connection)."""
        self._ensure_extension()
        if conn.adapters.types.get("vector") is None:
            register_vector(conn)

    @contextmanager
    def _connection(self, what: str) -> Iterator[psycopg.Connection[Any]]:
        with translated(what), self._pool.connection() as conn:
            self._prepare(conn)
            yield conn

    def _table(self, collection: str) -> sql.Identifier:
        return sql.Identifier(self._schema, table_name(collection))

    def _spec(self, collection: str) -> CollectionSpec | None:
        """The collection's spec from the database (cached); ``None`` if its table is missing."""
        if collection in self._specs:
            return self._specs[collection]
        with self._connection(f"inspect {collection}") as conn:
            row = conn.execute(
                "SELECT format_type(a.atttypid, a.atttypmod), obj_description(c.oid, 'pg_class'), "
                "EXISTS (SELECT 1 FROM pg_attribute l WHERE l.attrelid = c.oid "
                "AND l.attname = 'lexical' AND NOT l.attisdropped) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'embedding' "
                "WHERE n.nspname = %s AND c.relname = %s",
                (self._schema, table_name(collection)),
            ).fetchone()
        if row is None:
            return None
        meta = json.loads(row[1]) if row[1] else {}
        dim = int(re.findall(r"\d+", row[0])[0])
        # The column decides (upsert fills it); the COMMENT's "lexical" records the same flag.
        spec = CollectionSpec(
            name=collection, dimension=dim, distance=meta.get("distance", "cosine"), lexical=bool(row[2])
        )
        self._specs[collection] = spec
        return spec

    # -- VectorStore ----------------------------------------------------------------------

    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the table and its indexes unless they exist with this spec.

        Raises:
            DimensionMismatch: the table exists with another dimension, distance or ``lexical``
                flag.
            ConfigurationError: the vector extension is missing and cannot be created.
        """
        if spec.distance not in DISTANCES:
            raise PermanentError(f"unknown distance {spec.distance!r}")
        if self._spec(spec.name) is None:
            t, name = self._table(spec.name), table_name(spec.name)
            ddl = table_ddl(spec, t, with_hnsw=not self._defer_index)
            with self._connection(f"create {spec.name}") as conn:
                # Serialise concurrent creators: IF NOT EXISTS alone can still race on pg_type.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self._schema}.{name}",))
                if conn.execute("SELECT to_regclass(%s)", (t.as_string(conn),)).fetchone() == (None,):
                    for stmt in ddl:
                        conn.execute(stmt)
                    if self._defer_index:
                        log.info(
                            "pgvector: created %s; its HNSW index is built after the first load", spec.name
                        )
        found = self._spec(spec.name)
        have = (found.dimension, found.distance, found.lexical) if found is not None else None
        if have != (spec.dimension, spec.distance, spec.lexical):
            raise DimensionMismatch(
                f"collection {spec.name!r} has (dimension, distance, lexical) {have}, "
                f"not ({spec.dimension}, {spec.distance!r}, {spec.lexical})"
            )

    def index_pending(self, collection: str) -> bool:
        """Whether the collection exists without its HNSW index (a first load, deferred)."""
        if collection in self._built or self._spec(collection) is None:
            return False
        with self._connection(f"index state {collection}") as conn:
            row = conn.execute(
                "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
                (self._schema, f"{table_name(collection)}_hnsw"),
            ).fetchone()
        if row is not None:
            self._built.add(collection)  # an index is never dropped by indexflow: ask once
        return row is None

    def build_index(self, collection: str) -> bool:
        """Build the collection's HNSW index if it has none; True when this call built it.

        One builder at a time (an advisory lock; the others find it built). Writes to the table
        wait while it builds, which is why the pipeline calls it only once nothing is loading.
        """
        spec = self._spec(collection)
        if spec is None or not self.index_pending(collection):
            return False
        started = time.monotonic()
        with self._connection(f"build index {collection}") as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self._schema}.{table_name(collection)}",)
            )
            if not self.index_pending(collection):
                return False
            rows = conn.execute(
                sql.SQL("SELECT count(*) FROM {t}").format(t=self._table(collection))
            ).fetchone()
            conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            conn.execute(hnsw_ddl(spec, self._table(spec.name)))
        log.info(
            "pgvector: built the HNSW index of %s after its first load (%s points) in %.1f s",
            collection,
            rows[0] if rows else "?",
            time.monotonic() - started,
        )
        return True

    def upsert_in(self, session: Any, collection: str, points: Sequence[VectorPoint]) -> None:
        """``upsert`` inside a SQLAlchemy session's transaction (psycopg driver)."""
        self.upsert(collection, points, conn=session.connection().connection.driver_connection)

    def upsert(
        self, collection: str, points: Sequence[VectorPoint], conn: psycopg.Connection[Any] | None = None
    ) -> None:
        """Insert or overwrite ``points``; inside ``conn``'s transaction when given.

        Args:
            conn: a caller's psycopg connection; unless it is in autocommit mode the write joins
                its transaction and the caller commits (or, after an error, rolls back).

        Raises:
            NotFound: the collection does not exist.
            DimensionMismatch: a vector does not have the collection's dimension.
        """
        unique = list({p.id: p for p in points}.values())  # ON CONFLICT may touch a row once
        if not unique:
            return
        spec = self._spec(collection)
        if spec is None:
            raise NotFound(f"vector collection {collection!r} does not exist; ensure_collection first")
        if conn is None:
            with self._connection(f"upsert {collection}") as own:
                self._copy_upsert(own, collection, unique, spec.lexical)
            return
        with translated(f"upsert {collection}"):
            self._prepare(conn)
            if conn.autocommit:  # no caller transaction to join: make the COPY + merge atomic
                with conn.transaction():
                    self._copy_upsert(conn, collection, unique, spec.lexical)
            else:
                # Not conn.transaction(): on an idle connection that would BEGIN and COMMIT on its
                # own; plain statements join (or implicitly begin) the caller's transaction.
                self._copy_upsert(conn, collection, unique, spec.lexical)

    def _copy_upsert(
        self, conn: psycopg.Connection[Any], collection: str, points: list[VectorPoint], with_lexical: bool
    ) -> None:
        t = self._table(collection)
        qualified = f"{self._schema}.{table_name(collection)}"
        stage = sql.Identifier("indexflow_stage_" + hashlib.sha1(qualified.encode()).hexdigest()[:12])
        cols = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
        copied = sql.SQL(", ").join(map(sql.Identifier, (*_COLUMNS, _TEXT) if with_lexical else _COLUMNS))
        names = (*_COLUMNS[1:], "lexical") if with_lexical else _COLUMNS[1:]
        updates = sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in names)
        if with_lexical:
            # The staging table also holds the raw text; the merge computes the tsvector from it.
            create = "CREATE TEMP TABLE {s} (LIKE {t}, {x} text) ON COMMIT DROP"
            merge = (
                "INSERT INTO {t} ({c}, lexical) SELECT {c}, "
                "NULLIF(to_tsvector('english'::regconfig, coalesce({x}, '')), ''::tsvector) FROM {s} "
                "ON CONFLICT (id) DO UPDATE SET {u}"
            )
        else:
            create = "CREATE TEMP TABLE {s} (LIKE {t}) ON COMMIT DROP"
            merge = "INSERT INTO {t} ({c}) SELECT {c} FROM {s} ON CONFLICT (id) DO UPDATE SET {u}"
        conn.execute(sql.SQL(create).format(s=stage, t=t, x=sql.Identifier(_TEXT)))
        with conn.cursor() as cur:
            copy = sql.SQL("COPY {s} ({c}) FROM STDIN (FORMAT BINARY)").format(s=stage, c=copied)
            with cur.copy(copy) as cp:
                cp.set_types([*_COPY_TYPES, "text"] if with_lexical else _COPY_TYPES)
                for p in points:
                    pl = p.payload
                    row: list[Any] = [
                        uuid.UUID(p.id),
                        *(None if pl.get(k) is None else int(pl[k]) for k in _COLUMNS[1:5]),
                        pl.get("enabled", True) is not False,
                        pl,
                        np.asarray(p.vector, dtype=np.float32),
                    ]
                    if with_lexical:  # text cannot hold NUL; as a separator it changes no lexeme
                        row.append(None if p.text is None else p.text.replace("\x00", " "))
                    cp.write_row(row)
            cur.execute(sql.SQL(merge).format(t=t, c=cols, s=stage, u=updates, x=sql.Identifier(_TEXT)))
            # Dropped now, not at commit, so a caller's transaction can upsert again.
            cur.execute(sql.SQL("DROP TABLE {s}").format(s=stage))

    def _write(self, collection: str, query: sql.SQL, params: Sequence[Any]) -> None:
        """Run one DELETE/UPDATE; a missing collection is a no-op."""
        try:
            with self._connection(f"write {collection}") as conn:
                conn.execute(query.format(t=self._table(collection)), params)
        except NotFound:
            self._specs.pop(collection, None)

    def delete_by_plan(self, collection: str, plan_id: int) -> None:
        self._write(collection, sql.SQL("DELETE FROM {t} WHERE plan_id = %s"), (int(plan_id),))

    def delete_by_document(self, collection: str, document_id: int) -> None:
        self._write(collection, sql.SQL("DELETE FROM {t} WHERE document_id = %s"), (int(document_id),))

    def delete_points(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            query = sql.SQL("DELETE FROM {t} WHERE id = ANY(%s)")
            self._write(collection, query, ([uuid.UUID(i) for i in ids],))

    def set_enabled(self, collection: str, ids: Sequence[str], enabled: bool) -> None:
        """Flip ``enabled`` (column and payload) on the given points; missing ids are ignored."""
        if ids:
            query = sql.SQL(
                "UPDATE {t} SET enabled = %s, "
                "payload = payload || jsonb_build_object('enabled', %s::boolean) WHERE id = ANY(%s)"
            )
            self._write(collection, query, (enabled, enabled, [uuid.UUID(i) for i in ids]))

    def search(
        self,
        collection: str,
        vector: Sequence[float],
        limit: int,
        filters: SearchFilter | None = None,
    ) -> list[StoreHit]:
        """Nearest ``limit`` points, best first (cosine 1-d, dot/euclid -d)."""
        spec = self._spec(collection)
        if spec is None or limit <= 0:
            return []
        _, op, base, scale = DISTANCES[spec.distance]
        where, params = where_clause(filters)
        query = sql.SQL(
            "SELECT id, payload, embedding {op} %s FROM {t} WHERE {w} ORDER BY embedding {op} %s LIMIT %s"
        ).format(op=sql.SQL(op), t=self._table(collection), w=where)
        q = np.asarray(vector, dtype=np.float32)
        try:
            with self._connection(f"search {collection}") as conn:
                conn.execute(
                    "SELECT set_config('hnsw.ef_search', %s, true)", (str(min(1000, max(40, limit))),)
                )
                if self._iterative and filters is not None:
                    # Keep scanning the graph until `limit` rows pass the filter (pgvector 0.8).
                    conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
                rows = conn.execute(query, [q, *params, q, limit]).fetchall()
        except NotFound:
            self._specs.pop(collection, None)
            return []
        hits = [StoreHit(id=str(r[0]), score=base + scale * float(r[2]), payload=r[1]) for r in rows]
        # relaxed_order may return neighbours slightly out of order: restore best-first.
        return sorted(hits, key=lambda h: -h.score)

    def search_lexical(
        self,
        collection: str,
        text: str,
        limit: int,
        filters: SearchFilter | None = None,
    ) -> list[StoreHit]:
        """Rows sharing a lexeme with ``text`` (``to_tsvector('english', …)``), best first.

        Score: sum over the matched lexemes of ``idf * ts_rank_cd(lexical, lexeme, 1)``, the IDF
        ``ln(1 + (N - n + 0.5) / (n + 0.5))`` with ``N`` rows in the table and ``n`` of them
        holding the lexeme (unfiltered, like Qdrant's global IDF). ``N`` is an exact ``count(*)``
        of the table, so a query costs one count over the collection besides the GIN lookup.

        Raises:
            InvalidRequest: the collection has no lexical leg.
        """
        spec = self._spec(collection)
        if spec is None:
            return []
        if not spec.lexical:
            raise InvalidRequest(f"collection {collection!r} has no lexical leg (created without lexical)")
        if limit <= 0 or not text:
            return []
        where, params = where_clause(filters)
        query = sql.SQL(
            "WITH terms AS MATERIALIZED ("
            " SELECT {lexeme} AS q"
            " FROM unnest(tsvector_to_array(to_tsvector('english'::regconfig, %s))) AS l"
            "), matches AS MATERIALIZED ("
            " SELECT id, payload, lexical, plan_id, document_id, dataset_id, enabled FROM {t}"
            " WHERE lexical @@ (SELECT string_agg(q::text, ' | ')::tsquery FROM terms)"
            "), weights AS MATERIALIZED ("
            " SELECT terms.q, ln(1 + (stats.n - df.n + 0.5) / (df.n + 0.5))::float8 AS w"
            " FROM terms CROSS JOIN (SELECT count(*) AS n FROM {t}) AS stats"
            " CROSS JOIN LATERAL (SELECT count(*) AS n FROM matches m WHERE m.lexical @@ terms.q) AS df"
            ") "
            "SELECT id, payload,"
            " (SELECT sum(weights.w * ts_rank_cd(matches.lexical, weights.q, 1)) FROM weights"
            "  WHERE matches.lexical @@ weights.q) AS score "
            "FROM matches WHERE {w} ORDER BY score DESC, id LIMIT %s"
        ).format(lexeme=sql.SQL(_LEXEME_QUERY), t=self._table(collection), w=where)
        try:
            with self._connection(f"search_lexical {collection}") as conn:
                rows = conn.execute(query, [text.replace("\x00", " "), *params, limit]).fetchall()
        except NotFound:
            self._specs.pop(collection, None)
            return []
        return [StoreHit(id=str(r[0]), score=float(r[2]), payload=r[1]) for r in rows]

    def count(self, collection: str, filters: SearchFilter | None = None) -> int:
        if self._spec(collection) is None:
            return 0
        where, params = where_clause(filters)
        query = sql.SQL("SELECT count(*) FROM {t} WHERE {w}").format(t=self._table(collection), w=where)
        try:
            with self._connection(f"count {collection}") as conn:
                row = conn.execute(query, params).fetchone()
        except NotFound:
            self._specs.pop(collection, None)
            return 0
        return int(row[0]) if row else 0

    def get_vectors(self, collection: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """Point id -> vector for the ids that exist (``indexflow export --vectors``)."""
        if not ids or self._spec(collection) is None:
            return {}
        query = sql.SQL("SELECT id, embedding FROM {t} WHERE id = ANY(%s)").format(t=self._table(collection))
        try:
            with self._connection(f"retrieve {collection}") as conn:
                rows = conn.execute(query, ([uuid.UUID(i) for i in ids],)).fetchall()
        except NotFound:
            return {}
        return {str(r[0]): [float(x) for x in np.asarray(r[1].to_list(), dtype=np.float32)] for r in rows}

    def iter_points(self, collection: str, batch_size: int = 1000) -> Iterator[StoreHit]:
        """Every point's id and payload (score 0), in id order, one short query per page."""
        if self._spec(collection) is None:
            return
        query = sql.SQL(
            "SELECT id, payload FROM {t} WHERE %s::uuid IS NULL OR id > %s ORDER BY id LIMIT %s"
        ).format(t=self._table(collection))
        after: uuid.UUID | None = None
        while True:
            try:
                with self._connection(f"scroll {collection}") as conn:
                    rows = conn.execute(query, (after, after, batch_size)).fetchall()
            except NotFound:
                return
            for r in rows:
                yield StoreHit(id=str(r[0]), score=0.0, payload=r[1])
            if len(rows) < batch_size:
                return
            after = rows[-1][0]

    def collections(self) -> list[str]:
        """Collections whose table name maps back to them (every name indexflow itself makes)."""
        with self._connection("list collections") as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name LIKE 'indexflow\\_vec\\_%%'",
                (self._schema,),
            ).fetchall()
        prefix = "indexflow_vec_"
        names = [str(r[0])[len(prefix) :] for r in rows]
        return sorted(n for n in names if table_name(n) == prefix + n and n.startswith("indexflow_"))

    def drop_collection(self, collection: str) -> None:
        self._specs.pop(collection, None)
        self._built.discard(collection)
        with self._connection(f"drop {collection}") as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {t}").format(t=self._table(collection)))

    def close(self) -> None:
        """Close the connections this store opened (a pool passed in stays the caller's)."""
        if self._own_pool:
            self._pool.close()
