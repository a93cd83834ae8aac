"""Repository: the metadata fields each dataset knows, and their kinds."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from indexflow.db.models import MetadataField


def known_fields(s: Session, dataset_id: int) -> dict[str, str]:
    """Key -> kind for every metadata key a document of the dataset has held."""
    rows = s.execute(
        select(MetadataField.name, MetadataField.kind).where(MetadataField.dataset_id == dataset_id)
    ).all()
    return {name: kind for name, kind in rows}


def add_fields(s: Session, dataset_id: int, kinds: Mapping[str, str]) -> None:
    """Record keys not known yet (a concurrent writer's first kind wins; never an error)."""
    if not kinds:
        return
    rows = [{"dataset_id": dataset_id, "name": k, "kind": v} for k, v in kinds.items()]
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    s.execute(
        insert(MetadataField).values(rows).on_conflict_do_nothing(index_elements=["dataset_id", "name"])
    )
