"""The parse sandbox: a document over its time or memory limit fails alone, and the pool carries on.

The misbehaving parsers are the toy format's (:mod:`tests.sandbox_parsers`): the sandbox's
children import it by name when the test registers it, exactly as they would a plug-in format,
so the production path (a fresh interpreter running ``indexflow.parsers.parse``) is the one
under test. Each test but the last uses its own :class:`ParseSandbox`; the last ingests on the
embedded default, whose parse stage uses the process-wide one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexflow.domain.components import ParsedDocument
from indexflow.errors import ConfigurationError, IndexflowError, InputTooLarge, ParseError, UnsupportedFormat
from indexflow.parsers import parse, registry
from indexflow.parsers.base import Limits
from indexflow.parsers.detect import Sniffed
from indexflow.parsers.registry import Format
from indexflow.parsers.sandbox import ParseSandbox
from tests import hostile
from tests.sandbox_parsers import TOY, toy_document

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "docs"
SLACK = 3.0  # killing and reaping a child, and a loaded CI machine


@pytest.fixture
def sandbox() -> Iterator[ParseSandbox]:
    box = ParseSandbox()
    with registry.registered(TOY):
        yield box
    box.close()


def gone(pid: int) -> bool:
    """True when no process has this id any more (killed and reaped, not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_a_parse_that_runs_past_the_time_limit_is_killed_with_a_readable_error(sandbox: ParseSandbox):
    # given a warm child, and a document whose parser would be busy for a minute
    sandbox.parse(toy_document("warm up"), "warm.toy")
    [pid] = sandbox.pids()
    started = time.monotonic()

    # when it is parsed with a 2 s limit
    with pytest.raises(InputTooLarge) as caught:
        sandbox.parse(toy_document("never read", "sleep 60"), "slow.toy", timeout_seconds=2)

    # then it fails after 2 s, not 60, with the limit in the message; the child is dead and reaped
    elapsed = time.monotonic() - started
    assert str(caught.value) == "slow.toy: parse exceeded 2 s"
    assert 2 <= elapsed < 2 + SLACK, elapsed
    assert gone(pid) and sandbox.pids() == []
    assert sandbox.killed == 1


def test_a_parse_that_allocates_past_the_memory_limit_fails_with_a_readable_error(sandbox: ParseSandbox):
    # given a 256 MB limit and a parser that wants 2 GB
    with pytest.raises(InputTooLarge) as caught:
        sandbox.parse(toy_document("never read", "alloc 2048"), "hungry.toy", max_memory_mb=256)

    # then the limit is in the message, and the child that ran out is replaced, not reused
    assert str(caught.value) == "hungry.toy: parse exceeded 256 MB"
    assert sandbox.pids() == []
    assert sandbox.parse(toy_document("fine again"), "next.toy", max_memory_mb=256).format == "toy"


def test_a_child_that_dies_of_a_signal_fails_its_document_with_the_memory_limit_message(sandbox):
    with pytest.raises(InputTooLarge) as caught:
        sandbox.parse(toy_document("never read", "kill"), "crash.toy", max_memory_mb=1024)

    assert str(caught.value) == "crash.toy: parse exceeded 1024 MB (the parser process died of SIGKILL)"


@pytest.mark.parametrize(
    ("data", "name", "error"),
    [
        (fixture_bytes("not_a_zip.docx"), "not_a_zip.docx", ParseError),
        (fixture_bytes("random.bin"), "random.bin", UnsupportedFormat),
        (fixture_bytes("truncated.pdf"), "truncated.pdf", ParseError),
        (hostile.docx_empty_paragraphs(3_000_000), "empty.docx", InputTooLarge),
        (b"<html><body><p>   </p></body></html>", "blank.html", ParseError),
    ],
    ids=["not-a-zip", "binary", "truncated-pdf", "element-bomb", "no-text"],
)
def test_parser_errors_keep_their_class_and_message_across_the_boundary(sandbox, data, name, error):
    # given what parsing in this process says
    with pytest.raises(error) as here:
        parse(data, name)

    # then the sandbox says exactly the same
    with pytest.raises(error) as there:
        sandbox.parse(data, name)
    assert type(there.value) is type(here.value)
    assert str(there.value) == str(here.value)


def test_a_plugin_error_travels_as_its_indexflow_class(sandbox: ParseSandbox):
    with pytest.raises(UnsupportedFormat) as caught:
        sandbox.parse(toy_document("x", "raise UnsupportedFormat not mine, says the toy"), "odd.toy")

    assert type(caught.value) is UnsupportedFormat and str(caught.value) == "not mine, says the toy"


def test_the_sandbox_gives_the_same_tree_as_parsing_here(sandbox: ParseSandbox):
    for name in ("git_guide.md", "lisbon_history.html", "sourdough.docx", "tomato_guide.pdf"):
        data = fixture_bytes(name)
        assert sandbox.parse(data, name) == parse(data, name)


def test_after_kills_the_pool_keeps_serving_and_reuses_warm_children(sandbox: ParseSandbox):
    # given two children killed at the time limit
    for _ in range(2):
        with pytest.raises(InputTooLarge, match="parse exceeded 1 s"):
            sandbox.parse(toy_document("x", "sleep 30"), "stuck.toy", timeout_seconds=1)
    started = sandbox.started

    # when ten documents follow, then they parse, all in one fresh child kept warm
    for i in range(10):
        assert sandbox.parse(toy_document(f"document {i}"), f"d{i}.toy").components[0].text == f"document {i}"
    assert sandbox.started == started + 1
    assert len(sandbox.pids()) == 1


def test_parallel_parses_get_their_own_children_and_one_stuck_parse_holds_only_itself(sandbox):
    # given four threads: one parse stuck, three normal ones that each take a second
    results: dict[str, str] = {}

    def run(name: str, directive: str) -> None:
        try:
            parsed = sandbox.parse(toy_document(f"text of {name}", directive), name, timeout_seconds=3)
            results[name] = parsed.components[0].text
        except IndexflowError as exc:
            results[name] = str(exc)

    threads = [threading.Thread(target=run, args=("stuck.toy", "sleep 60"))]
    threads += [threading.Thread(target=run, args=(f"n{i}.toy", "sleep 1")) for i in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # then the normal ones finished, and the stuck one failed at its limit
    assert results == {
        "stuck.toy": "stuck.toy: parse exceeded 3 s",
        **{f"n{i}.toy": f"text of n{i}.toy" for i in range(3)},
    }
    assert time.monotonic() - started < 3 + SLACK + 2  # child start-ups, in parallel, not counted


def test_a_dramatiq_time_limit_interrupts_the_wait_and_the_child_is_killed(sandbox: ParseSandbox):
    import ctypes

    from dramatiq.middleware import TimeLimitExceeded

    # given a parse in a worker thread, waiting on a child that is busy for a minute
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            sandbox.parse(toy_document("x", "sleep 60"), "slow.toy", timeout_seconds=120)
        except BaseException as exc:  # noqa: BLE001 - the test looks at what arrived
            outcome.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 30
    while not sandbox.pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    [pid] = sandbox.pids()
    time.sleep(0.5)

    # when Dramatiq's time limit raises in that thread, as its TimeLimit middleware does
    interrupted = time.monotonic()
    raise_in = ctypes.pythonapi.PyThreadState_SetAsyncExc
    raise_in(ctypes.c_ulong(thread.ident or 0), ctypes.py_object(TimeLimitExceeded))
    thread.join(10)

    # then the thread is free within a poll interval, and the child is killed and reaped
    assert not thread.is_alive()
    assert time.monotonic() - interrupted < 2
    assert [type(e) for e in outcome] == [TimeLimitExceeded]
    assert gone(pid) and sandbox.pids() == []


def test_a_child_is_replaced_after_serving_its_share_of_parses():
    box = ParseSandbox(max_parses_per_process=3)
    try:
        for i in range(7):
            box.parse(f"doc {i}".encode(), f"d{i}.txt")
        assert box.started == 3
    finally:
        box.close()


def test_a_format_whose_parser_cannot_reach_the_child_is_a_configuration_error(sandbox: ParseSandbox):
    # given a format whose parser is a closure: it cannot be imported by name in a child
    def parse_local(data: bytes, filename: str | None, limits: Limits, sniffed: Sniffed) -> ParsedDocument:
        raise AssertionError("never called")

    # then the sandbox says so, instead of parsing it with something else
    local = Format("local", "Local", ("local",), parse_local)
    with registry.registered(local), pytest.raises(ConfigurationError, match="module-level functions"):
        sandbox.parse(b"x", "a.local")


# -- end to end: the embedded default ----------------------------------------------------


GOOD_FORMATS = ("txt", "md", "html")


def write_corpus(folder: Path) -> tuple[list[Path], dict[Path, str]]:
    """20 good documents, and hostile ones with the error each must fail with."""
    folder.mkdir(parents=True)
    good = []
    for i in range(20):
        ext = GOOD_FORMATS[i % len(GOOD_FORMATS)]
        body = f"Good document {i}. Bees dance to say where the flowers are, number {i}."
        text = {"txt": body, "md": f"# Good {i}\n\n{body}\n", "html": f"<h1>Good {i}</h1><p>{body}</p>"}[ext]
        path = folder / f"good{i:02d}.{ext}"
        path.write_text(text)
        good.append(path)
    hostile_docs = {
        "bomb.docx": (hostile.docx_zip_bomb(30_000_000), "unpacks to"),
        "elements.docx": (hostile.docx_empty_paragraphs(3_000_000), "more than 2000000 XML elements"),
        "nested.html": (hostile.html_nested_tables(3_900_000), "nested.html: parse exceeded 2 s"),
        "hang.toy": (toy_document("never read", "sleep 600"), "hang.toy: parse exceeded 2 s"),
        "hungry.toy": (toy_document("never read", "alloc 4096"), "hungry.toy: parse exceeded 512 MB"),
        "crash.toy": (toy_document("never read", "kill"), "died of SIGKILL"),
    }
    expected: dict[Path, str] = {}
    for name, (data, error) in hostile_docs.items():
        path = folder / name
        path.write_bytes(data)
        expected[path] = error
    return good, expected


@pytest.mark.timeout(300)
def test_hostile_documents_fail_alone_while_twenty_good_ones_are_embedded(tmp_path: Path):
    from indexflow import Indexflow
    from indexflow.settings import Settings
    from indexflow.testing import HashEncoder, MemoryStore

    # given the embedded default with a 2 s parse limit, 512 MB of parser memory, 4 MB documents
    good, bad = write_corpus(tmp_path / "docs")
    settings = Settings(
        home=tmp_path / "state",
        parse_timeout_seconds=2,
        parse_max_memory_mb=512,
        max_document_bytes=4_000_000,
    )
    with registry.registered(TOY), Indexflow(settings, store=MemoryStore(), encoder=HashEncoder()) as ix:
        # when the hostile documents and the good ones are ingested together
        started = time.monotonic()
        report = ix.ingest([str(p) for p in (*bad, *good)], dataset="mixed", wait=True, timeout=240)
        elapsed = time.monotonic() - started

        # then each hostile one failed alone, with a readable reason naming the limit it hit
        by_source = {Path(d.source).name: d for d in report.documents}
        for path, error in bad.items():
            doc = by_source[path.name]
            assert doc.status == "FAILED", (path.name, doc)
            assert doc.error is not None and doc.error.startswith(f"{path.name}: "), doc.error
            assert error in doc.error, (path.name, doc.error)
        # and the twenty good ones are embedded and searchable
        assert [by_source[p.name].status for p in good] == ["EMBEDDED"] * 20
        hits = ix.search("where the flowers are, number 7", dataset="mixed", k=20)
        assert any(Path(h.document.source).name.startswith("good07") for h in hits), hits
        # and no worker was held much longer than the limit by any of them
        assert elapsed < 120, elapsed
