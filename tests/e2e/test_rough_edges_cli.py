"""Rough edges a new user hits on the CLI: markup in document text, exit codes, the default profile.

The commands run in this process through typer's ``CliRunner`` on the shipped doubles (one
``MemoryStore`` and one ``HashEncoder`` shared by every command of a test, as one home would be),
so no model is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

pytestmark = pytest.mark.e2e

MARKUP = "Complex numbers: return [obj.real, obj.imag] and [bold]x[/bold] in one line."


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "complex.txt").write_text(f"{MARKUP}\n\nMore about [red]colour[/red] codes.\n")
    return docs


def test_search_prints_document_text_verbatim_not_as_markup(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    cli("ingest", str(_docs(tmp_path)), "-d", "docs", "--json")
    out = cli("search", "complex numbers obj real imag", "-d", "docs").output
    assert "[obj.real, obj.imag]" in out
    assert "[bold]x[/bold]" in out
    grouped = cli("search", "complex numbers", "-d", "docs", "--group-by", "document").output
    assert "[obj.real, obj.imag]" in grouped


def test_listings_and_preview_print_text_verbatim(tmp_path: Path, cli: Callable[..., Result]) -> None:
    docs = _docs(tmp_path)
    (docs / "[draft] notes.txt").write_text("A [bold]draft[/bold] of notes.\n")
    report = cli("ingest", str(docs), "-d", "docs", "--json")
    plan_ids = [p["plan_id"] for d in json.loads(report.stdout)["documents"] for p in d["plans"]]
    listed = cli("documents", "list").output
    assert "A [bold]draft[/bold] of notes." in listed and "[draft] note" in listed
    assert "A [bold]draft[/bold] of notes." in cli("status").output
    chunks = cli("chunks", "list", str(plan_ids[0])).output + cli("chunks", "list", str(plan_ids[1])).output
    assert "[obj.real, obj.imag]" in chunks and "[bold]draft[/bold]" in chunks
    preview = cli("preview", str(docs / "complex.txt")).output
    assert "[obj.real, obj.imag]" in preview and "[bold]x[/bold]" in preview


def test_search_of_an_unknown_dataset_exits_1_naming_the_known_ones(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    cli("ingest", str(_docs(tmp_path)), "-d", "docs", "--json")
    for extra in ([], ["--json"]):
        result = cli("search", "anything", "-d", "nosuch", *extra, code=1)
        assert "nosuch" in result.stderr and "'docs'" in result.stderr
        assert "error" in result.stderr


def test_chunks_of_a_missing_plan_exit_1(cli: Callable[..., Result]) -> None:
    result = cli("chunks", "list", "9999", code=1)
    assert "9999" in result.stderr and "error" in result.stderr


def test_a_folder_of_unsupported_files_ingests_nothing_and_exits_1(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    folder = tmp_path / "binaries"
    folder.mkdir()
    (folder / "a.exe").write_bytes(b"MZ\x90\x00")
    (folder / "b.exe").write_bytes(b"MZ\x90\x00")
    (folder / "c.bin").write_bytes(b"\x00\x01")
    result = cli("ingest", str(folder), code=1)
    assert "nothing was ingested" in result.stderr
    assert ".exe ×2" in result.stderr and ".bin" in result.stderr


@pytest.mark.parametrize("name", ["", "d" * 300])
def test_a_bad_dataset_name_is_refused_by_ingest(
    tmp_path: Path, cli: Callable[..., Result], name: str
) -> None:
    result = cli("ingest", str(_docs(tmp_path)), "-d", name, code=1)
    assert "dataset" in result.stderr and ("empty" in result.stderr or "300" in result.stderr)


def test_profiles_list_marks_the_default_and_deactivating_it_says_what_search_uses(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    cli("ingest", str(_docs(tmp_path)), "-d", "docs", "--json")
    cli("profiles", "create", "small", "--chunk-size", "64", "--activate", "--json")
    listed = cli("profiles", "list").output
    rows = {line.split("│")[2].strip(): line for line in listed.splitlines() if line.startswith("│")}
    assert rows["default"].split("│")[3].strip() == "*"
    assert rows["small"].split("│")[3].strip() == ""
    # when the default is deactivated, search moves off it and the command says where
    out = cli("profiles", "deactivate", "default").output
    assert "search now uses 'small'; make another the default with `indexflow profiles default NAME`" in out
    listed = cli("profiles", "list").output
    rows = {line.split("│")[2].strip(): line for line in listed.splitlines() if line.startswith("│")}
    assert rows["small"].split("│")[3].strip() == "*" and rows["default"].split("│")[3].strip() == ""
    again = json.loads(cli("profiles", "deactivate", "default", "--json").stdout)
    assert again["search_default"] == "small" and again["note"] == "search without a profile uses 'small'"
    assert json.loads(cli("profiles", "default", "--json").stdout)["name"] == "small"


def test_plans_list_shows_retired_and_deactivated_plans_as_such(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    docs = _docs(tmp_path)
    first = json.loads(cli("ingest", str(docs), "-d", "docs", "--json").stdout)
    (docs / "complex.txt").write_text("A second version, about trains.\n")
    cli("ingest", str(docs), "-d", "docs", "--json")

    def states() -> list[str]:
        listed = cli("plans", "list").output
        return sorted(line.split("│")[4].strip() for line in listed.splitlines() if line.startswith("│"))

    assert states() == ["EMBEDDED", "RETIRED"]
    cli("documents", "deactivate", str(first["documents"][0]["document_id"]))
    assert states() == ["DEACTIVATED", "DEACTIVATED"]
    assert "default DEACTIVATED" in cli("status").output


def test_preview_cuts_with_the_estimate_tokenizer_and_refuses_an_unknown_one(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    doc = _docs(tmp_path) / "complex.txt"
    shown = json.loads(cli("preview", str(doc), "--tokenizer", "indexflow-estimate", "--json").stdout)
    assert shown["settings"]["tokenizer"] == "indexflow-estimate"
    assert shown["bundles"] and all(b["chunks"] for b in shown["bundles"])
    bad = cli("preview", str(doc), "--tokenizer", "no-such-tokenizer", code=1)
    assert "unknown tokenizer 'no-such-tokenizer'" in bad.stderr and "indexflow-estimate" in bad.stderr
