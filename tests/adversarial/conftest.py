"""The adversarial tier: hostile documents and fuzzed inputs against every parser.

Each input must parse or fail with an ``indexflow.errors`` class within its time budget; none may
hang or raise anything else. Kept out of the unit tier because its inputs are megabytes large.
"""

from tests.unit.parsers.conftest import check_tree, docs, read_doc  # noqa: F401 (fixtures)
