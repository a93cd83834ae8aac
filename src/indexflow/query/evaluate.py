"""Retrieval evaluation on a user's own questions: load judgments, search, score.

Judgments file (JSONL), one query a line::

    {"query": "how do I pin a dependency?", "relevant": ["reference/specifying-dependencies.html"]}

``relevant`` lists what answers the query, each entry one of:

- a string: a document source; it matches a document whose source equals it, ends with it
  after a ``/`` (relative paths work against absolute sources) or whose file name without its
  extension equals it (BEIR corpus ids stored as ``<id>.txt``);
- ``{"source": …, "grade": 2}``: the same with a graded relevance (nDCG uses the grade);
- ``{"chunk_id": 123}``: one chunk;
- ``{"passage": "…"}``: a chunk whose text contains the passage (or is contained in it),
  whitespace-insensitive.

A mapping ``{"source": grade, …}`` is accepted for ``relevant`` too, and ``id`` is optional.
BEIR's layout is read as well: a folder with ``queries.jsonl`` (``_id``, ``text``) and
``qrels/test.tsv`` (``query-id  corpus-id  score``), or that ``queries.jsonl`` file itself.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexflow.db import documents as docs_repo
from indexflow.db import profiles as profiles_repo
from indexflow.db.session import transaction
from indexflow.domain import metrics
from indexflow.errors import InvalidRequest
from indexflow.query.search import search
from indexflow.runtime import Runtime
from indexflow.views import EvalMiss, EvalReport, Hit, ProfileScores

MAX_QUERIES = 100_000
_WS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Judgment:
    """One relevant item: ``kind`` is ``source``, ``chunk`` or ``passage``."""

    kind: str
    value: str
    grade: float = 1.0

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"

    def label(self) -> str:
        return self.value if self.kind == "source" else self.key


@dataclass(frozen=True, slots=True)
class EvalQuery:
    id: str
    query: str
    relevant: tuple[Judgment, ...] = field(default_factory=tuple)


QueriesArg = str | Path | Iterable[EvalQuery | Mapping[str, Any]]


def load_queries(source: QueriesArg) -> list[EvalQuery]:
    """Queries with their judgments from a file, a BEIR folder or already-built objects.

    Raises:
        InvalidRequest: unreadable input, a malformed line (its number is named), a query
            without judgments, or no queries at all.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            out = _load_beir(path / "queries.jsonl", path)
        elif not path.is_file():
            raise InvalidRequest(f"no judgments file {str(path)!r}")
        else:
            rows = _read_jsonl(path)
            if rows and all("_id" in r and "relevant" not in r for _, r in rows):
                out = _load_beir(path, path.parent)
            else:
                out = [_parse(r, n) for n, r in rows]
    else:
        out = [q if isinstance(q, EvalQuery) else _parse(q, n) for n, q in enumerate(source, 1)]
    if not out:
        raise InvalidRequest("no queries to evaluate")
    if len(out) > MAX_QUERIES:
        raise InvalidRequest(f"more than {MAX_QUERIES} queries")
    return out


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise InvalidRequest(f"{path.name} line {n}: not JSON: {exc}") from exc
                if not isinstance(row, dict):
                    raise InvalidRequest(f"{path.name} line {n}: expected a JSON object")
                rows.append((n, row))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"cannot read {str(path)!r}: {exc}") from exc
    return rows


def _parse(row: Mapping[str, Any], n: int) -> EvalQuery:
    where = f"query {n}"
    text = row.get("query")
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest(f"{where}: 'query' must be a non-empty string")
    raw = row.get("relevant")
    items: list[Any]
    if isinstance(raw, Mapping):
        items = [{"source": k, "grade": v} for k, v in raw.items()]
    elif isinstance(raw, list):
        items = raw
    else:
        raise InvalidRequest(f"{where}: 'relevant' must be a list (or a mapping of source to grade)")
    judged = tuple(_judgment(item, where) for item in items)
    if not any(j.grade > 0 for j in judged):
        raise InvalidRequest(f"{where}: no relevant item")
    qid = row.get("id", row.get("_id", n))
    return EvalQuery(id=str(qid), query=text, relevant=judged)


def _judgment(item: Any, where: str) -> Judgment:
    if isinstance(item, str) and item:
        return Judgment("source", item)
    if isinstance(item, Mapping):
        grade = item.get("grade", 1)
        if isinstance(grade, bool) or not isinstance(grade, int | float):
            raise InvalidRequest(f"{where}: a grade must be a number")
        for kind, key in (("source", "source"), ("chunk", "chunk_id"), ("passage", "passage")):
            value = item.get(key)
            if value is None:
                continue
            if kind == "chunk" and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidRequest(f"{where}: chunk_id must be an integer")
            if kind != "chunk" and (not isinstance(value, str) or not value.strip()):
                raise InvalidRequest(f"{where}: {key} must be a non-empty string")
            text = _norm(value) if kind == "passage" else str(value)
            return Judgment(kind, text, float(grade))
    raise InvalidRequest(
        f"{where}: a relevant item is a source string or an object with source, chunk_id or passage"
    )


def _load_beir(queries: Path, root: Path) -> list[EvalQuery]:
    qrels_dir = root / "qrels"
    candidates = [qrels_dir / "test.tsv", qrels_dir / "dev.tsv", *sorted(qrels_dir.glob("*.tsv"))]
    qrels = next((p for p in candidates if p.is_file()), None)
    if qrels is None:
        raise InvalidRequest(f"BEIR queries need qrels: no {qrels_dir}/test.tsv")
    judged: dict[str, list[Judgment]] = {}
    try:
        with qrels.open(encoding="utf-8", newline="") as fh:
            for n, row in enumerate(csv.reader(fh, delimiter="\t"), 1):
                if not row or (n == 1 and not _is_number(row[-1])):
                    continue  # blank line or the "query-id corpus-id score" header
                if len(row) < 3 or not _is_number(row[-1]):
                    raise InvalidRequest(f"{qrels.name} line {n}: expected query-id, corpus-id, score")
                judged.setdefault(row[0], []).append(Judgment("source", row[-2], float(row[-1])))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"cannot read {str(qrels)!r}: {exc}") from exc
    out = []
    for _, line in _read_jsonl(queries):
        qid, text = str(line.get("_id", "")), line.get("text")
        rel = tuple(j for j in judged.get(qid, ()) if j.grade > 0)
        if rel and isinstance(text, str) and text.strip():
            out.append(EvalQuery(id=qid, query=text, relevant=rel))
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip().casefold()


def source_matches(source: str, wanted: str) -> bool:
    """Whether a judged source names the document ``source`` (equal, path suffix, or stem)."""
    if source == wanted:
        return True
    w = wanted.removeprefix("./")
    if source.endswith("/" + w) or source.endswith("\\" + w):
        return True
    name = re.split(r"[/\\]", source.rstrip("/"))[-1]
    return "." in name and name.rsplit(".", 1)[0] == w


def ranking_of(hits: Sequence[Hit], judged: Sequence[Judgment]) -> list[str | None]:
    """The judged unit each hit belongs to (``None``: none), for ``metrics.score_ranking``."""
    out: list[str | None] = []
    for h in hits:
        unit: str | None = None
        text = ""
        for j in judged:
            if j.kind == "chunk":
                ok = str(h.chunk.id) == j.value
            elif j.kind == "passage":
                text = text or _norm(h.text)
                ok = j.value in text or (len(text) > 20 and text in j.value)
            else:
                ok = source_matches(h.document.source, j.value)
            if ok:
                unit = j.key
                break
        out.append(unit)
    return out


def score_query(hits: Sequence[Hit], q: EvalQuery, k: int) -> dict[str, float]:
    relevant = {j.key: j.grade for j in q.relevant}
    return metrics.score_ranking(ranking_of(hits, q.relevant), relevant, k)


def profile_scores(
    name: str,
    mode: str,
    cap: int,
    queries: Sequence[EvalQuery],
    results: Sequence[Sequence[Hit]],
    k: int,
) -> ProfileScores:
    per_query = []
    misses: list[EvalMiss] = []
    for q, hits in zip(queries, results, strict=True):
        scores = score_query(hits, q, k)
        per_query.append(scores)
        if scores[f"hit@{k}"] == 0:
            misses.append(
                EvalMiss(
                    id=q.id,
                    query=q.query,
                    relevant=[j.label() for j in q.relevant],
                    got=[h.document.source for h in hits[:k]],
                )
            )
    return ProfileScores(
        profile=name,
        mode=mode,
        max_per_document=cap,
        metrics={m: round(v, 6) for m, v in metrics.mean_scores(per_query, k).items()},
        misses=misses,
    )


def evaluate(
    rt: Runtime,
    queries: QueriesArg,
    *,
    dataset: str = "default",
    profiles: Sequence[str] | None = None,
    k: int = 10,
    mode: str | None = None,
    max_per_document: int | None = None,
) -> EvalReport:
    """Search every query with each profile and score the rankings (see ``domain.metrics``).

    Args:
        profiles: profile names, compared side by side; default the one search uses.
        mode, max_per_document: passed to search as is (their defaults are search's).

    Raises:
        InvalidRequest: bad judgments, ``k`` < 1, or no profile to evaluate.
        NotFound: a named profile does not exist.
    """
    if k < 1:
        raise InvalidRequest("k must be at least 1")
    judged = load_queries(queries)
    names = list(dict.fromkeys(profiles or []))
    with transaction(rt.readers) as s:
        docs_repo.get_dataset(s, dataset)  # NotFound: a typo must not score zero everywhere
        default = profiles_repo.search_default(s, rt.settings.default_profile)
    if not names:
        if default is None:
            raise InvalidRequest("no index profile to evaluate: ingest documents first")
        names = [default.name]
    cap = rt.settings.max_per_document if max_per_document is None else max_per_document
    rows = []
    for name in names:
        with transaction(rt.readers) as s:
            lexical = profiles_repo.get_by_name(s, name).lexical
        used = mode or ("hybrid" if lexical else "dense")
        results = [
            search(
                rt, q.query, dataset=dataset, k=k, profile=name, mode=used, max_per_document=max_per_document
            )
            for q in judged
        ]
        rows.append(profile_scores(name, used, cap, judged, results, k))
    return EvalReport(dataset=dataset, k=k, queries=len(judged), profiles=rows)
