"""The lifecycle tests of the unit tier, run again on the real stack.

The unit tier runs them on the shipped doubles (``indexflow.testing``); here the root ``ix``
fixture gives them all-MiniLM-L6-v2, Qdrant Edge and SQLite, so every flow is also proven
with the real model and store.
"""

from tests.unit.lifecycle.test_documents import *  # noqa: F403
from tests.unit.lifecycle.test_duplicate_work import *  # noqa: F403
from tests.unit.lifecycle.test_incremental_ingest import *  # noqa: F403
from tests.unit.lifecycle.test_plans import *  # noqa: F403
from tests.unit.lifecycle.test_profiles import *  # noqa: F403
from tests.unit.lifecycle.test_purge_reconcile import *  # noqa: F403
from tests.unit.lifecycle.test_retrieval import *  # noqa: F403
