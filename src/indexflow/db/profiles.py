"""Repository: index profiles (append-only once used), and the default one created on first use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indexflow.db.models import ChunkPlan, IndexProfile, PlanStatus
from indexflow.encoders.models import DEFAULT_MODEL
from indexflow.errors import ConflictError, InvalidRequest, NotFound

PROFILE_FIELDS = (
    "encoder",
    "tokenizer",
    "dimension",
    "distance",
    "max_tokens",
    "chunk_size",
    "chunk_overlap",
    "target_bundle_tokens",
    "hnsw_m",
    "hnsw_ef_construct",
    "lexical",
    "context_template",
)

CONTEXT_FIELDS = ("title", "section", "source")
"""What a ``context_template`` may name: ``{title}`` (the document's title, else its file name),
``{section}`` (the bundle's heading path, "Install / Linux") and ``{source}``."""
CONTEXT_TEMPLATE_MAX = 500


# all-MiniLM-L6-v2: 384-d, 256 tokens incl. [CLS]/[SEP]. Chosen on bench/retrieval.py's two
# evaluation sets (the Cargo book's FAQ and glossary, the GNU manuals' concept indexes; README):
# 254-token windows (32 overlap) inside 512-token bundles, each chunk embedded under its title and
# section path, and a BM25 leg fused with the dense one (hybrid search). Against naive 254/32
# windows (one per document) that gave +0.21 and +0.15 hit@10, +0.07 and +0.16 MRR@10; dense
# alone with the same chunks lost on hit@10 on both sets.
DEFAULT_PROFILE: dict[str, Any] = {
    "encoder": DEFAULT_MODEL,
    "tokenizer": DEFAULT_MODEL,
    "dimension": 384,
    "distance": "cosine",
    "max_tokens": 256,
    "chunk_size": 254,
    "chunk_overlap": 16,  # chosen with bench/retrieval.py: see README "Performance" (overlap)
    "target_bundle_tokens": 512,
    "hnsw_m": 16,
    "hnsw_ef_construct": 100,
    "lexical": True,
    "context_template": "{title}\n{section}",
}


def get_by_name(s: Session, name: str) -> IndexProfile:
    p = s.scalar(select(IndexProfile).where(IndexProfile.name == name))
    if p is None:
        raise NotFound(f"index profile {name!r} does not exist")
    return p


def find_by_name(s: Session, name: str) -> IndexProfile | None:
    return s.scalar(select(IndexProfile).where(IndexProfile.name == name))


def get(s: Session, profile_id: int) -> IndexProfile:
    p = s.get(IndexProfile, profile_id)
    if p is None:
        raise NotFound(f"index profile {profile_id} does not exist")
    return p


def list_all(s: Session) -> list[IndexProfile]:
    return list(s.scalars(select(IndexProfile).order_by(IndexProfile.id)))


def active(s: Session) -> list[IndexProfile]:
    return list(s.scalars(select(IndexProfile).where(IndexProfile.is_active).order_by(IndexProfile.id)))


def in_use(s: Session, profile_id: int) -> bool:
    return bool(s.scalar(select(exists().where(ChunkPlan.profile_id == profile_id))))


def create(s: Session, name: str, **fields: Any) -> IndexProfile:
    if find_by_name(s, name) is not None:
        raise ConflictError(f"index profile {name!r} already exists")
    validate(fields)
    profile = IndexProfile(name=name, **fields)
    s.add(profile)
    s.flush()
    return profile


def update(s: Session, profile: IndexProfile, **fields: Any) -> IndexProfile:
    """Change a profile's parameters; refused once it has plans (clone it instead)."""
    if in_use(s, profile.id):
        raise ConflictError(
            f"index profile {profile.name!r} has plans and is immutable; "
            f"clone it: indexflow profiles clone {profile.name} NEW_NAME --chunk-size …"
        )
    merged = {f: getattr(profile, f) for f in PROFILE_FIELDS} | fields
    validate(merged)
    for key, value in fields.items():
        setattr(profile, key, value)
    return profile


def search_default(s: Session, fallback: str) -> IndexProfile | None:
    """The profile search uses when none is named: the one marked default (``profiles
    default``) while it is active, else the profile called ``fallback`` (the ``default_profile``
    setting) while it is active, else ``successor``'s pick. Only when no profile is active (not
    a state the facade allows) the marked or ``fallback`` one is still returned."""
    marked = s.scalar(select(IndexProfile).where(IndexProfile.is_default))
    if marked is not None and marked.is_active:
        return marked
    named = find_by_name(s, fallback)
    if named is not None and named.is_active:
        return named
    return successor(s) or marked or named


def successor(s: Session, leaving: IndexProfile | None = None) -> IndexProfile | None:
    """The active profile search moves to when its profile stops serving: the newest active
    profile (other than ``leaving``) with searchable plans (active and EMBEDDED), else the
    newest active one; None when there is none."""
    candidates = [p for p in active(s) if leaving is None or p.id != leaving.id]
    if not candidates:
        return None
    serving = set(
        s.scalars(
            select(ChunkPlan.profile_id)
            .where(ChunkPlan.is_active, ChunkPlan.status == PlanStatus.EMBEDDED)
            .where(ChunkPlan.profile_id.in_([p.id for p in candidates]))
            .distinct()
        )
    )
    ranked = sorted(candidates, key=lambda p: (p.id in serving, p.id))
    return ranked[-1]


def set_default(s: Session, profile: IndexProfile) -> IndexProfile | None:
    """Mark ``profile`` as the one search uses; returns the profile that was marked before."""
    before = s.scalar(select(IndexProfile).where(IndexProfile.is_default).with_for_update())
    if before is not None and before.id != profile.id:
        before.is_default = False
        s.flush()  # the partial unique index allows one marked row at a time
    profile.is_default = True
    profile.is_active = True
    return before


def delete(s: Session, name: str) -> None:
    """Delete a profile (its plans must be gone first: a purge deletes them)."""
    s.execute(sql_delete(IndexProfile).where(IndexProfile.name == name))


def validate(fields: dict[str, Any]) -> None:
    chunk_size = fields.get("chunk_size")
    overlap = fields.get("chunk_overlap", 0)
    max_tokens = fields.get("max_tokens")
    if chunk_size is not None:
        if chunk_size < 8:
            raise InvalidRequest("chunk_size must be at least 8 tokens")
        if max_tokens is not None and chunk_size > max_tokens - 2:
            raise InvalidRequest(
                f"chunk_size {chunk_size} does not fit the model: at most {max_tokens - 2} tokens "
                "(its limit less the two special tokens)"
            )
        if not 0 <= overlap < chunk_size:
            raise InvalidRequest("chunk_overlap must be ≥ 0 and smaller than chunk_size")
    if fields.get("distance", "cosine") not in ("cosine", "dot", "euclid"):
        raise InvalidRequest("distance must be cosine, dot or euclid")
    target = fields.get("target_bundle_tokens")
    if target is not None and target < 1:
        raise InvalidRequest("target_bundle_tokens must be positive")
    template = fields.get("context_template")
    if template is not None:
        check_context_template(template)


def check_context_template(template: str) -> None:
    """Refuse a template that names anything but ``CONTEXT_FIELDS`` or cannot be rendered."""
    import string

    if not isinstance(template, str) or not template.strip():
        raise InvalidRequest("context_template must be a non-empty string (or null for none)")
    if len(template) > CONTEXT_TEMPLATE_MAX:
        raise InvalidRequest(f"context_template is longer than {CONTEXT_TEMPLATE_MAX} characters")
    try:
        names = [f for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
        template.format(**dict.fromkeys(CONTEXT_FIELDS, ""))
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise InvalidRequest(
            f"context_template {template!r} is not valid: {exc}; it may use "
            + ", ".join("{" + f + "}" for f in CONTEXT_FIELDS)
        ) from exc
    unknown = [n for n in names if n not in CONTEXT_FIELDS]
    if unknown:
        raise InvalidRequest(
            f"context_template names {unknown[0]!r}; it may use "
            + ", ".join("{" + f + "}" for f in CONTEXT_FIELDS)
        )


def ensure_default_profile(s: Session, name: str = "default") -> IndexProfile | None:
    """Create the MiniLM default profile (called ``name``) when no profile exists yet.

    Safe against a concurrent first registration: the insert runs under a savepoint and, if
    another transaction created the profile first, the existing one is returned.
    """
    if list_all(s):
        return find_by_name(s, name)
    try:
        with s.begin_nested():
            return create(s, name, **DEFAULT_PROFILE, is_active=True)
    except (IntegrityError, ConflictError):
        return find_by_name(s, name)
