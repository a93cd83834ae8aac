"""Retrieval as users reach it: ``indexflow eval``, ``search`` options and ``profiles default
--gate`` as real subprocesses, and the same over HTTP (``/v1/search``, ``/v1/eval``,
``/v1/profiles/{name}/default``); real model, embedded default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from tests.e2e.test_lifecycle_cli import fails, js, run
from tests.texts import BEE_QUERY, BEES, TRAINS

if TYPE_CHECKING:
    from indexflow.settings import Settings

pytestmark = pytest.mark.e2e

CODES = "Error E7731 means the ledger volume is full; free space and retry the write."


def _corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bees.md").write_text("# Bees\n\n" + "\n\n".join(f"Part {i}. {BEES}" for i in range(6)))
    (folder / "trains.md").write_text("# Trains\n\n" + TRAINS)
    (folder / "codes.md").write_text("# Error codes\n\n" + CODES)
    return folder


QUERIES = [
    {"id": "bees", "query": BEE_QUERY, "relevant": ["bees.md"]},
    {"id": "trains", "query": "how do steam locomotives work?", "relevant": ["trains.md"]},
    {"id": "codes", "query": "E7731", "relevant": ["codes.md"]},
]


def test_eval_search_options_and_the_default_gate_from_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run(home, "ingest", str(_corpus(tmp_path / "docs")), "-d", "docs")
    judged = tmp_path / "q.jsonl"
    judged.write_text("\n".join(json.dumps(q) for q in QUERIES))

    table = js(home, "eval", str(judged), "-d", "docs", "-k", "5")
    assert list(table) == ["default"]
    assert set(table["default"]) == {"hit@1", "hit@5", "mrr@5", "ndcg@5", "recall@5"}
    assert 0 < table["default"]["hit@5"] <= 1

    run(home, "profiles", "clone", "default", "dense", "--no-lexical", "--context-template", "")
    run(home, "profiles", "activate", "dense")
    text = run(home, "eval", str(judged), "-d", "docs", "--profile", "default", "--profile", "dense").stdout
    assert "default" in text and "dense" in text and "hybrid" in text and "hit@10" in text

    hits = js(home, "search", "E7731", "-d", "docs", "--mode", "sparse")  # the default profile has BM25
    assert hits[0]["document"]["source"].endswith("codes.md")
    groups = js(home, "search", BEE_QUERY, "-d", "docs", "--group-by", "document", "--max-per-document", "2")
    assert groups[0]["document"]["source"].endswith("bees.md") and 1 <= len(groups[0]["hits"]) <= 2
    assert "lexical" in fails(home, "search", "x", "-d", "docs", "--profile", "dense", "--mode", "sparse")

    result = js(home, "profiles", "default", "dense", "--gate", str(judged), "-d", "docs", "--margin", "0.5")
    assert result["switched"] is True and result["default"] == "dense"
    assert set(result["candidate_metrics"]) >= {"hit@10", "mrr@10", "ndcg@10"}
    assert js(home, "profiles", "default")["name"] == "dense"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from indexflow.api.app import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_search_options_eval_and_default_over_http(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    ix = client.app.state.ix  # type: ignore[attr-defined]
    assert ix.ingest([str(_corpus(tmp_path / "docs"))], dataset="docs", timeout=300).ok

    body = {"query": BEE_QUERY, "dataset": "docs", "k": 3, "max_per_document": 1}
    hits = client.post("/v1/search", json=body).json()["hits"]
    assert len({h["document"]["id"] for h in hits}) == len(hits) == 3
    grouped = client.post("/v1/search", json={**body, "group_by": "document"})
    assert grouped.status_code == 200 and grouped.json()["documents"][0]["document"]["source"].endswith(
        "bees.md"
    )
    for bad in ({"mode": "fuzzy"}, {"group_by": "section"}, {"max_per_document": -1}):
        reply = client.post("/v1/search", json={**body, **bad})
        assert reply.status_code == 422, reply.text
    assert client.post("/v1/search", json={**body, "mode": "sparse"}).status_code == 200  # default: BM25
    ix.profiles.create("dense", lexical=False)
    sparse = client.post("/v1/search", json={**body, "mode": "sparse", "profile": "dense"})
    assert sparse.status_code == 422 and "lexical" in sparse.json()["error"]["message"]

    report = client.post("/v1/eval", json={"queries": QUERIES, "dataset": "docs", "k": 5})
    assert report.status_code == 200, report.text
    [row] = report.json()["profiles"]
    assert row["profile"] == "default" and row["metrics"]["hit@5"] > 0
    assert client.post("/v1/eval", json={"queries": [{"query": "x"}], "dataset": "docs"}).status_code == 422
    assert client.post("/v1/eval", json={"queries": QUERIES, "dataset": "nope"}).status_code == 404

    ix.profiles.clone("default", "twin")
    answer = client.post("/v1/profiles/twin/default", json={"gate": QUERIES, "dataset": "docs"})
    assert answer.status_code == 409, answer.text  # not built yet: the HTTP gate does not wait
    assert "being built" in answer.json()["error"]["message"]
    ix.wait([p.plan_id for p in ix.plans.list() if p.profile == "twin"], timeout=300)  # it started them
    answer = client.post("/v1/profiles/twin/default", json={"gate": QUERIES, "dataset": "docs", "margin": 0})
    assert answer.status_code == 200 and answer.json()["switched"] is True, answer.text
    assert {p["name"]: p["is_default"] for p in client.get("/v1/profiles").json()["profiles"]}["twin"] is True
