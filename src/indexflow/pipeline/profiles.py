"""Index profiles as the pipeline needs them: the default one, created on first use."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indexflow.db import profiles as profiles_repo
from indexflow.db.models import IndexProfile
from indexflow.encoders.models import DEFAULT_MODEL
from indexflow.errors import ConflictError

# all-MiniLM-L6-v2: 384-d, 256 tokens incl. [CLS]/[SEP]. 200-token windows with 40 overlap leave
# room below the 254-token ceiling and match the passage lengths the model was tuned on.
DEFAULT_PROFILE: dict[str, Any] = {
    "encoder": DEFAULT_MODEL,
    "tokenizer": DEFAULT_MODEL,
    "dimension": 384,
    "distance": "cosine",
    "max_tokens": 256,
    "chunk_size": 200,
    "chunk_overlap": 40,
    "target_bundle_tokens": 512,
    "hnsw_m": 16,
    "hnsw_ef_construct": 100,
}


def ensure_default_profile(s: Session, name: str = "default") -> IndexProfile | None:
    """Create the MiniLM default profile (called ``name``) when no profile exists yet.

    Safe against a concurrent first registration: the insert runs under a savepoint and, if
    another transaction created the profile first, the existing one is returned.
    """
    if profiles_repo.list_all(s):
        return profiles_repo.find_by_name(s, name)
    try:
        with s.begin_nested():
            return profiles_repo.create(s, name, **DEFAULT_PROFILE, is_active=True)
    except (IntegrityError, ConflictError):
        return profiles_repo.find_by_name(s, name)
