"""Shared fixtures. Services (PostgreSQL, Redis, RabbitMQ) are checked, never skipped: a test
that needs one and cannot reach it fails with a message saying which and how to start it."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from typer.testing import Result

    from indexflow.service import Indexflow
    from indexflow.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "docs"
SAMPLES = Path(__file__).parent.parent / "samples"

PG_URL = os.environ.get("INDEXFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("INDEXFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("INDEXFLOW_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


def require_port(name: str, port: int) -> None:
    """Fail (not skip) when a service the test needs is not listening."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3):
            return
    except OSError as exc:
        pytest.fail(
            f"{name} is not reachable on 127.0.0.1:{port} ({exc}); start it (scripts/ensure_services.sh)",
            pytrace=False,
        )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def settings(home: Path) -> Settings:
    from indexflow.settings import Settings

    return Settings(home=home, lease_seconds=60, embed_batch_size=32)


@pytest.fixture
def make_ix() -> Callable[[Settings], Indexflow]:
    """Build a facade on the real stack (the unit lifecycle tier overrides it with the doubles)."""
    from indexflow import Indexflow

    return Indexflow


@pytest.fixture
def ix(settings: Settings, make_ix: Callable[[Settings], Indexflow]) -> Iterator[Indexflow]:
    with make_ix(settings) as instance:
        yield instance


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A small mixed-format corpus copied from the fixtures (text, markdown, html, pdf, docx, json)."""
    import shutil

    out = tmp_path / "corpus"
    out.mkdir()
    for name in (
        "composting.txt",
        "git_guide.md",
        "lisbon_history.html",
        "tomato_guide.pdf",
        "sourdough.docx",
        "physics_exam.json",
    ):
        shutil.copy(FIXTURES / name, out / name)
    return out


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """The CLI in this process on the shipped doubles: one ``MemoryStore`` and one ``HashEncoder``
    shared by every command of a test (as one home would be), so no model is loaded. ``run(*args,
    code=0)`` asserts the exit code and returns typer's ``Result``."""
    from typer.testing import CliRunner

    import indexflow.service
    from indexflow.cli import common
    from indexflow.cli.main import app
    from indexflow.testing import HashEncoder, MemoryStore

    monkeypatch.setenv("INDEXFLOW_HOME", str(tmp_path / "home"))
    store, encoder = MemoryStore(), HashEncoder()
    real = indexflow.service.Indexflow

    def build(settings: Any = None, **kw: Any) -> Any:
        return real(settings, store=store, encoder=encoder, **kw)

    monkeypatch.setattr(indexflow.service, "Indexflow", build)
    for c in (common.console, common.err_console):
        monkeypatch.setattr(c, "_width", 250)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Result:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (result.exit_code, result.output, result.exception)
        return result

    yield run
