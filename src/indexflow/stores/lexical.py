"""The lexical (BM25) leg's analyzer, shared by every Qdrant-flavoured adapter and ``MemoryStore``.

One place turns text into sparse term weights, so Qdrant Edge, Qdrant (server or local mode) and
the in-memory double index and query exactly the same terms with exactly the same weights:

- ``document_terms(text)``: the BM25 term-frequency part of each term (``k = 1.2``, ``b = 0.75``,
  ``avg_len = 256``), English tokenizer, stopwords and Snowball stemmer — Qdrant's own ``Bm25``
  (``qdrant_edge.Bm25``), so the weights are those the server-side BM25 inference would give.
- ``query_terms(text)``: each unique query term with weight 1.0.

Term ids are 32-bit hashes of the stemmed tokens. The engines multiply by the IDF at query time
(the sparse vector's ``IDF`` modifier): ``ln(1 + (N - n + 0.5) / (n + 0.5))`` over the ``N``
points that hold a non-empty lexical vector, ``n`` of them containing the term — see ``idf``.

PGVector does not use this module: PostgreSQL's ``to_tsvector('english', …)`` is its analyzer.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import qdrant_edge as qe

SPARSE_NAME = "bm25"  # the sparse vector's name in Qdrant collections
LANGUAGE = "english"

Terms = tuple[list[int], list[float]]

_model: qe.Bm25 | None = None
_lock = threading.Lock()


def _bm25() -> qe.Bm25:
    """The one analyzer of the process, built on first use (``import`` stays light)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                import qdrant_edge as qe

                _model = qe.Bm25(qe.Bm25Config(language=LANGUAGE))
    return _model


def document_terms(text: str | None) -> Terms:
    """Term ids and BM25 term-frequency weights of an indexed text (``([], [])`` for none)."""
    if not text:
        return [], []
    vector = _bm25().embed_document(text)
    return [int(i) for i in vector.indices], [float(v) for v in vector.values]


def query_terms(text: str) -> Terms:
    """Term ids of a query, each with weight 1.0 (``([], [])`` when nothing is indexable)."""
    if not text:
        return [], []
    vector = _bm25().embed_query(text)
    return [int(i) for i in vector.indices], [float(v) for v in vector.values]


def idf(points: int, containing: int) -> float:
    """Qdrant's IDF: ``ln(1 + (N - n + 0.5) / (n + 0.5))``."""
    return math.log(1.0 + (points - containing + 0.5) / (containing + 0.5))
