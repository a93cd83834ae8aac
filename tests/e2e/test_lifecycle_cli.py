"""The lifecycle commands end to end, as a user runs them: real subprocesses, embedded default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.texts import BEE_QUERY, BEES, TRAINS

pytestmark = pytest.mark.e2e


def _write(path: Path, body: str, paragraphs: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(f"Section {i + 1}. {body}" for i in range(paragraphs)) + "\n")
    return path


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"INDEXFLOW_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "indexflow.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"indexflow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def js(home: Path, *args: str) -> Any:
    return json.loads(run(home, *args, "--json").stdout)


def fails(home: Path, *args: str) -> str:
    """Run a command that must fail cleanly: exit 1, a readable error, no traceback."""
    proc = run(home, *args, check=False)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "error" in proc.stderr.lower() and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def python(home: Path, code: str) -> str:
    """Run a snippet against the same state (e.g. to tamper with the vector store)."""
    env = os.environ | {"INDEXFLOW_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_documents_plans_and_chunks_commands_end_to_end(tmp_path: Path) -> None:
    home, docs = tmp_path / "home", tmp_path / "docs"
    bees_path = _write(docs / "bees.txt", BEES, 8)
    _write(docs / "trains.txt", TRAINS, 4)
    # given two documents ingested
    report = js(home, "ingest", str(docs), "-d", "docs")
    assert report["counts"] == {"EMBEDDED": 2}
    ids = {Path(d["source"]).name: d["document_id"] for d in report["documents"]}
    bees, trains = ids["bees.txt"], ids["trains.txt"]

    # documents list / show
    listed = js(home, "documents", "list", "-d", "docs")
    assert {d["document_id"]: d["status"] for d in listed} == {bees: "EMBEDDED", trains: "EMBEDDED"}
    shown = js(home, "documents", "show", str(bees))
    [bees_v1] = [p["plan_id"] for p in shown["plans"] if p["is_active"]]
    assert shown["document_id"] == bees and shown["is_active"]

    # plans list / show / rerun (rerun waits: a new generation, EMBEDDED again)
    plans = js(home, "plans", "list", "-d", "docs", "--status", "embedded")
    assert len(plans) == 2 and {p["status"] for p in plans} == {"EMBEDDED"}
    assert js(home, "plans", "show", str(bees_v1))["chunk_count"] >= 2
    rerun = js(home, "plans", "rerun", str(bees_v1))
    assert (rerun["status"], rerun["generation"], rerun["is_active"]) == ("EMBEDDED", 1, True)

    # a changed file becomes a new version; an unchanged one is a lookup
    _write(bees_path, BEES + TRAINS, 8)
    again = js(home, "ingest", str(docs), "-d", "docs")
    outcomes = {Path(d["source"]).name: d["outcome"] for d in again["documents"]}
    assert outcomes == {"bees.txt": "changed", "trains.txt": "unchanged"}
    shown = js(home, "documents", "show", str(bees))
    [bees_v2] = [p["plan_id"] for p in shown["plans"] if p["is_active"]]
    assert bees_v2 != bees_v1
    assert js(home, "plans", "show", str(bees_v1))["status"] == "READY"

    # activating the retired plan is refused without --force, and nothing changes
    assert "not EMBEDDED" in fails(home, "plans", "activate", str(bees_v1))
    assert js(home, "plans", "show", str(bees_v2))["is_active"]

    # chunks: disable one, it is listed disabled; enable it again
    chunks = js(home, "chunks", "list", str(bees_v2))
    chunk_id = chunks[0]["chunk_id"]
    assert js(home, "chunks", "disable", str(chunk_id)) == {"chunk_id": chunk_id, "enabled": False}
    listed = js(home, "chunks", "list", str(bees_v2))
    assert [c["enabled"] for c in listed if c["chunk_id"] == chunk_id] == [False]
    js(home, "chunks", "enable", str(chunk_id))
    assert all(c["enabled"] for c in js(home, "chunks", "list", str(bees_v2)))

    # deactivate: search no longer returns the document
    assert js(home, "documents", "deactivate", str(bees))["plans"] == [bees_v1, bees_v2]
    hits = js(home, "search", BEE_QUERY, "-d", "docs", "-k", "10")
    assert hits and bees not in {h["document"]["id"] for h in hits}
    assert {d["document_id"]: d["status"] for d in js(home, "documents", "list")}[bees] == "INACTIVE"

    # forced activation of the old plan brings the document back on v1 (the command waits)
    forced = js(home, "plans", "activate", str(bees_v1), "--force")
    assert (forced["status"], forced["is_active"]) == ("EMBEDDED", True)
    hits = js(home, "search", BEE_QUERY, "-d", "docs", "-k", "3")
    assert (hits[0]["document"]["id"], hits[0]["plan_id"]) == (bees, bees_v1), "v1 is not served: " + str(
        [(h["document"]["id"], h["plan_id"], round(h["score"], 3)) for h in hits]
    )

    # delete: gone, and showing it is a clean error
    assert js(home, "documents", "delete", str(trains))["document_id"] == trains
    assert "does not exist" in fails(home, "documents", "show", str(trains))
    assert [d["document_id"] for d in js(home, "documents", "list")] == [bees]


def test_profiles_purge_and_reconcile_commands_end_to_end(tmp_path: Path) -> None:
    home, docs = tmp_path / "home", tmp_path / "docs"
    _write(docs / "bees.txt", BEES, 8)
    _write(docs / "trains.txt", TRAINS, 4)
    report = js(home, "ingest", str(docs), "-d", "docs")
    ids = {Path(d["source"]).name: d["document_id"] for d in report["documents"]}
    bees, trains = ids["bees.txt"], ids["trains.txt"]

    # profiles: list, a clear error for parameters that cannot work, clone, activate (builds, waits)
    assert [p["name"] for p in js(home, "profiles", "list")] == ["default"]
    assert "does not fit the model" in fails(home, "profiles", "create", "big", "--chunk-size", "400")
    clone = js(home, "profiles", "clone", "default", "small", "--chunk-size", "64", "--chunk-overlap", "8")
    assert clone["chunk_size"] == 64 and not clone["is_active"]
    activated = js(home, "profiles", "activate", "small")
    assert activated["is_active"] and activated["plans_enqueued"] == 2
    small_plans = [p for p in js(home, "plans", "list") if p["profile"] == "small"]
    assert {p["status"] for p in small_plans} == {"EMBEDDED"} and all(p["is_active"] for p in small_plans)
    hits = js(home, "search", BEE_QUERY, "-d", "docs", "-k", "3", "--profile", "small")
    assert hits[0]["document"]["id"] == bees, "bees not served by 'small': " + str(
        [(h["document"]["id"], h["plan_id"], round(h["score"], 3)) for h in hits]
    )
    assert all(h["chunk"]["token_count"] <= 64 for h in hits)
    assert js(home, "profiles", "deactivate", "small")["is_active"] is False
    assert "at least one" in fails(home, "profiles", "deactivate", "default")

    # purge --dry-run lists exactly what the real purge removes, and changes nothing
    before = js(home, "plans", "list")
    dry = js(home, "purge", "--profile", "small", "--dry-run")
    assert dry["plans"] == sorted(p["plan_id"] for p in small_plans) and dry["points"] > 0
    assert dry["chunks"] == sum(p["chunk_count"] for p in small_plans)
    assert js(home, "plans", "list") == before
    real = js(home, "purge", "--profile", "small")
    assert real == dry | {"dry_run": False}
    assert [p["name"] for p in js(home, "profiles", "list")] == ["default"]
    assert "would remove: 1 plans" in run(home, "purge", "--document", str(bees), "--dry-run").stdout
    assert js(home, "documents", "show", str(bees))["is_active"]  # a dry run changes nothing

    # purge --preserve-vectors leaves the points: reconcile reports them (exit 1), --fix removes them
    kept = js(home, "purge", "--document", str(trains), "--preserve-vectors")
    assert kept["points"] > 0 and kept["preserve_vectors"]
    check = run(home, "reconcile", "--json", check=False)
    assert check.returncode == 1 and json.loads(check.stdout)["orphan_count"] == kept["points"]
    assert js(home, "reconcile", "--fix")["orphan_count"] == kept["points"]
    assert js(home, "reconcile")["orphan_count"] == 0

    # a planted orphan point and a plan whose points were deleted behind the database's back
    [bees_plan] = [p["plan_id"] for p in js(home, "documents", "show", str(bees))["plans"] if p["is_active"]]
    orphan = python(
        home,
        f"""
        import uuid
        from indexflow import Indexflow
        from indexflow.stores.base import VectorPoint
        with Indexflow() as ix:
            coll = ix.profiles.list()[0].collection
            pid = str(uuid.uuid4())
            ix.rt.store.upsert(coll, [VectorPoint(pid, [0.05] * 384, {{"plan_id": 999, "enabled": True}})])
            ix.rt.store.delete_by_plan(coll, {bees_plan})
            print(pid)
    """,
    )
    check = run(home, "reconcile", "--json", check=False)
    found = json.loads(check.stdout)
    assert check.returncode == 1
    assert list(found["orphan_points"].values()) == [[orphan]]
    assert found["plans_missing_points"] == [bees_plan]
    text = run(home, "reconcile", check=False).stdout
    assert "orphan points: 1" in text and str(bees_plan) in text
    fixed = js(home, "reconcile", "--fix")
    assert fixed["fixed"] and fixed["plans_missing_points"] == [bees_plan]
    assert js(home, "reconcile") == {
        "fixed": False,
        "orphan_points": {},
        "plans_missing_points": [],
        "detached_collections": {},
        "orphan_count": 0,
    }
    assert js(home, "plans", "show", str(bees_plan))["status"] == "EMBEDDED"
    assert js(home, "search", BEE_QUERY, "-d", "docs", "-k", "1")[0]["document"]["id"] == bees
