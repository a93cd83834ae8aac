"""retrieval options on index profiles; the default profile; chunk context headers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

- ``index_profiles.lexical``: the profile's collection also holds a BM25 leg (hybrid search).
- ``index_profiles.context_template``: a header of document title and section path put in
  front of each chunk's text before it is embedded (and indexed by BM25); null = none.
- ``index_profiles.is_default``: the profile search uses when none is named (at most one).
- ``chunks.context``: the header rendered for that chunk (what the embedder saw before its
  text), so what was embedded can be shown and embedded again exactly.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("index_profiles") as batch:
        batch.add_column(sa.Column("lexical", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("context_template", sa.Text(), nullable=True))
        batch.add_column(sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index(
        "uq_profiles_one_default",
        "index_profiles",
        ["is_default"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )
    with op.batch_alter_table("chunks") as batch:
        batch.add_column(sa.Column("context", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("context")
    op.drop_index("uq_profiles_one_default", table_name="index_profiles")
    with op.batch_alter_table("index_profiles") as batch:
        batch.drop_column("is_default")
        batch.drop_column("context_template")
        batch.drop_column("lexical")
