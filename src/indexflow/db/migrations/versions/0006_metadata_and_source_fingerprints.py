"""document metadata, the metadata fields a dataset knows, source fingerprints

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-20

- ``document_versions.user_metadata``: the key/value metadata the caller gave with this content
  (``ingest(metadata=…)``, ``--meta``, a ``NAME.meta.json`` sidecar, the API's ``metadata``); it
  is part of the version's identity, so new metadata is a new version, swapped in like new bytes.
- ``document_versions.metadata``: what search filters on and returns: what the parser found
  (title, author, dates, pages) overlaid by ``user_metadata``; set when the version is parsed.
- ``metadata_fields``: each metadata key a dataset holds and its kind (keyword, number, bool,
  datetime), so a filter on a key no document has is an error and a range on a keyword is refused.
- ``documents.source_fingerprint``: what the source looked like when it was last read (ETag, size,
  modification time), so an unchanged remote object is skipped without downloading it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("document_versions") as batch:
        batch.add_column(sa.Column("user_metadata", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("metadata", sa.JSON(), nullable=True))
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("source_fingerprint", sa.String(length=255), nullable=True))
    op.create_table(
        "metadata_fields",
        sa.Column("dataset_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dataset_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("metadata_fields")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("source_fingerprint")
    with op.batch_alter_table("document_versions") as batch:
        batch.drop_column("metadata")
        batch.drop_column("user_metadata")
