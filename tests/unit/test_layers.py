"""The layers hold: checked on the source, so a change that breaks one fails here.

- every query lives in ``db/`` (the store adapters speak to their own engines);
- the HTTP routes and the CLI go through the facade: no ``db/``, no runtime, no ``ix.rt``;
- ``pipeline/`` holds the stages and the plan's state machine only;
- ``domain/`` is pure (nothing of indexflow outside it, no I/O libraries);
- only ``settings.py`` reads the environment.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "indexflow"
QUERY_BUILDERS = {"select", "update", "delete", "insert", "text", "func", "exists", "and_", "or_", "union"}
QUERY_CALLS = {"execute", "scalar", "scalars", "query"}
SESSION_CALLS = {"get", "delete", "merge"}


def modules(under: str = "") -> list[Path]:
    return sorted((SRC / under).rglob("*.py"))


def rel(path: Path) -> str:
    return str(path.relative_to(SRC))


def imports(tree: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def query_sites(tree: ast.AST) -> list[str]:
    """Query builders imported from SQLAlchemy, and session-style query calls."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sqlalchemy"):
            found += [f"import {a.name}" for a in node.names if a.name in QUERY_BUILDERS]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name in QUERY_CALLS:
                found.append(f".{name}() at line {node.lineno}")
            # s.get(Model, id) / s.delete(row): an ORM session call (dict.get takes no class)
            elif (
                name in SESSION_CALLS
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id[:1].isupper()
            ):
                found.append(f".{name}({node.args[0].id}, …) at line {node.lineno}")
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in modules() if not rel(p).startswith(("db/", "stores/"))],
    ids=rel,
)
def test_no_module_outside_db_issues_a_query(path: Path) -> None:
    assert query_sites(ast.parse(path.read_text())) == [], f"{rel(path)} queries the database: move it to db/"


@pytest.mark.parametrize("path", modules("api") + modules("cli"), ids=rel)
def test_routes_and_commands_go_through_the_facade(path: Path) -> None:
    tree = ast.parse(path.read_text())
    reached = sorted(m for m in imports(tree) if m.startswith(("indexflow.db", "indexflow.runtime")))
    assert reached == [], f"{rel(path)} imports {reached}: call the facade instead"
    rt = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("rt", "_ctx")]
    assert rt == [], f"{rel(path)} reaches into the facade's runtime at lines {rt}"


def test_pipeline_holds_the_stages_and_the_state_machine_only() -> None:
    names = {p.stem for p in modules("pipeline")}
    assert names == {"__init__", "machine", "stages", "activation", "register"}


@pytest.mark.parametrize("path", modules("domain"), ids=rel)
def test_the_domain_is_pure(path: Path) -> None:
    reached = imports(ast.parse(path.read_text()))
    outside = sorted(
        m for m in reached if m.startswith("indexflow.") and not m.startswith("indexflow.domain")
    )
    io = sorted(
        m for m in reached if m.split(".")[0] in {"sqlalchemy", "os", "requests", "fsspec", "dramatiq"}
    )
    assert outside == [] and io == [], f"{rel(path)} imports {outside + io}"


@pytest.mark.parametrize("path", [p for p in modules() if rel(p) != "settings.py"], ids=rel)
def test_only_settings_reads_the_environment(path: Path) -> None:
    tree = ast.parse(path.read_text())
    reads = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and n.attr in ("environ", "getenv")
        and isinstance(n.value, ast.Name)
        and n.value.id == "os"
    ]
    assert reads == [], f"{rel(path)} reads the environment at lines {reads}: add a setting"


def test_the_checks_catch_a_query() -> None:
    # the detector itself: a query in a use case is found, a dict lookup is not
    code = "from sqlalchemy import select\ndef f(s, d):\n    d.get('k')\n    return s.get(Document, 1)\n"
    assert query_sites(ast.parse(code)) == ["import select", ".get(Document, …) at line 4"]
