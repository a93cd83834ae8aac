"""`alembic upgrade head` gives exactly the schema the models declare."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from indexflow.db.migrate import current_revision, upgrade
from indexflow.db.models import Base
from indexflow.db.session import make_engine


def test_sqlite_upgrade_head_matches_the_models_and_is_idempotent(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    upgrade(engine)  # a second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert current_revision(engine) is not None
    engine.dispose()


def test_the_fast_head_check_agrees_with_alembic_and_still_upgrades_an_old_schema(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from indexflow.db.migrate import alembic_config, head_revision

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    # The revision read from the files without Alembic is the head Alembic computes
    assert head_revision() == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    # A database one migration behind is not taken for current: upgrade() still migrates it
    upgrade(engine, "0005")
    assert current_revision(engine) == "0005"
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()
