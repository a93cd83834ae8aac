"""Commands that need no model never load one: ``--help``, ``status``, ``documents list`` and an
unchanged re-ingest run without importing torch, transformers or OpenVINO, and with no work to
run they start no worker (no dramatiq) and migrate nothing (no alembic) (issue 14: instant
commands).

Each command runs as its own process (``python -c`` around the CLI's app), which then reports
which heavy packages it imported; a real ingest first builds the home with the real model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.texts import BEES, TRAINS

pytestmark = pytest.mark.e2e

# dramatiq too: a command with no work to run starts no worker
HEAVY = ("torch", "transformers", "sentence_transformers", "openvino", "dramatiq", "alembic")

PROBE = """
import json, sys
from indexflow.cli.main import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("\\nLOADED=" + json.dumps(heavy))
"""


def _loaded(home: Path, *args: str) -> tuple[list[str], str]:
    env = os.environ | {"INDEXFLOW_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("LOADED="))
    return json.loads(line.removeprefix("LOADED=")), proc.stdout


def test_commands_that_need_no_model_never_import_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(12):
        note = docs / f"note_{i:02}.md"
        note.write_text(f"# Note {i}\n\n{BEES if i % 2 else TRAINS}\n")
        # Written a minute ago: a file modified in the last 2 s is never trusted by its look
        # (sources/local.py RACY_SECONDS), and would be read again to be found unchanged.
        os.utime(note, (time.time() - 60, time.time() - 60))
    loaded, out = _loaded(home, "ingest", str(docs), "-d", "docs")
    # the first ingest embeds: it needs a model runtime (torch, or OpenVINO's IR when auto chose it)
    assert {"torch", "openvino"} & set(loaded) and "12 documents" in out

    for args in (
        ("--help",),
        ("status", "-d", "docs"),
        ("documents", "list", "-d", "docs"),
        ("ingest", str(docs), "-d", "docs"),  # unchanged: skipped on their fingerprints, unread
    ):
        loaded, out = _loaded(home, *args)
        assert loaded == [], f"indexflow {' '.join(args)} imported {loaded}"
    assert "12 unchanged" in out
