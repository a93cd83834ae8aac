"""The status dashboard at ``/`` and the offline OpenAPI pages, in a real headless Chromium against
a real ``indexflow serve`` (SQLite, Qdrant Edge, the packaged MiniLM model, the in-process worker).

Chromium is Debian's (``scripts/install_chromium.sh``; ``make test`` installs it), driven by
Playwright through ``executable_path``; see ``tests/browser.py``.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    BrowserContext,
    FilePayload,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from tests.browser import Server, launch, serve
from tests.texts import BEES, TRAINS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

LIVE = 120_000  # ms: how long a status may take to show (the model embeds on 2 cores)
QUICK = 30_000  # ms: a change the stream must bring well before the page's 60 s resync
UPLOAD_OP = "operations-default-upload_document_v1_datasets__dataset__documents_post"


def long_markdown(sections: int, paragraphs: int = 4) -> bytes:
    """A markdown document of many chunks (so its embedding takes a while), every one different."""
    words = ["harbour", "granite", "orchard", "lantern", "meadow", "furnace", "compass", "glacier"]
    out: list[str] = ["# The long report\n"]
    for s in range(sections):
        out.append(f"## Section {s}\n")
        for p in range(paragraphs):
            body = " ".join(
                f"The {words[(s + p + i) % len(words)]} number {s * 100 + p * 10 + i} was measured "
                f"on day {i} of week {s} and noted in ledger {p}."
                for i in range(12)
            )
            out.append(body + "\n")
    return "\n".join(out).encode()


SECTIONED = (
    "# Field notes\n\n## Bees in the orchard\n\n"
    + (BEES * 3)
    + "\n\nThe orchard keeper moves the hives before the apple blossom opens in spring.\n\n"
    + (TRAINS * 3)
    + "\n\n## Winter\n\nIn winter the colony clusters and eats the honey it stored.\n"
).encode()


# -- the server, the browser and a page ---------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # small embedding batches, so a long document's progress shows in steps
    with serve(tmp_path_factory.mktemp("dashboard") / "state", env={"INDEXING_EMBED_BATCH_SIZE": "4"}) as s:
        yield s


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    profile = tmp_path_factory.mktemp("chromium") / "profile"
    context = launch(playwright, profile, viewport={"width": 1280, "height": 900})
    yield context
    context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab (its own sessionStorage); the test fails on any uncaught error in the page."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    tab.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def plan_row(page: Page, plan_id: int) -> Any:
    return page.locator(f'#documents .plan[data-plan-id="{plan_id}"]')


def doc_row(page: Page, document_id: int) -> Any:
    return page.locator(f'#documents tr[data-document-id="{document_id}"]')


# -- the page's own arithmetic ------------------------------------------------------------------------
def test_the_pages_stream_parser_and_eta_arithmetic(server: Server, page: Page) -> None:
    page.goto(server.url)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    # an event split across reads, CRLF line ends, a ping comment and a two-line data field
    events = page.evaluate(
        """() => {
            const got = [];
            const feed = window.indexflowDashboard.createSseParser((e) => got.push(e));
            ['event: plan\\r', '\\ndata: {"a"', ':1}\\r\\n\\r\\n: ping\\n\\n',
             'event: plan\\ndata: x\\ndata: y\\n', '\\n'].forEach(feed);
            return got;
        }"""
    )
    assert events == [{"event": "plan", "data": '{"a":1}'}, {"event": "plan", "data": "x\ny"}]

    figures = page.evaluate(
        """() => {
            const d = window.indexflowDashboard;
            const s = [];
            d.addSample(s, 0, 0); d.addSample(s, 1000, 10); d.addSample(s, 2000, 20);
            const steady = d.rateOf(s, 2000), stalled = d.rateOf(s, 4000);
            const eta = d.etaSeconds(100, steady);
            // fast at first, slow in the last 30 s: the rate is the recent one
            const w = [];
            [[0, 0], [10000, 1000], [40000, 1000], [50000, 1010]]
                .forEach(([t, n]) => d.addSample(w, t, n, 30000));
            const recent = d.rateOf(w, 50000);
            // waiting before the first batch does not count: the rate starts with the work
            const q = [];
            d.addSample(q, 0, 5); d.addSample(q, 5000, 5); d.addSample(q, 6000, 15);
            const started = d.rateOf(q, 6000);
            // a count going down (a rerun starts over) forgets the old samples
            d.addSample(s, 5000, 3);
            return {steady, stalled, eta, recent, started,
                    restarted: d.rateOf(s, 5000), one: d.rateOf([[0, 5]], 10),
                    unknown: d.etaSeconds(10, null), done: d.etaSeconds(0, null),
                    f: [0.4, 42, 75, 3700].map(d.formatDuration),
                    span: d.chunkSpan('abc def ghi', 'def', 4, 7),
                    moved: d.chunkSpan('abc def ghi', 'def', 0, 3)};
        }"""
    )
    assert figures["steady"] == 10 and figures["stalled"] == 5 and figures["eta"] == 10
    assert figures["recent"] == pytest.approx(10 / 40)
    assert figures["started"] == 10
    assert figures["restarted"] is None and figures["one"] is None
    assert figures["unknown"] is None and figures["done"] == 0
    assert figures["f"] == ["< 1 s", "42 s", "1 min 15 s", "1 h 2 min"]
    assert figures["span"] == [4, 7] and figures["moved"] == [4, 7]


# -- what the page shows ------------------------------------------------------------------------------
def test_the_page_lists_documents_and_follows_a_new_upload_live_with_progress_and_eta(
    server: Server, page: Page
) -> None:
    # given two embedded documents
    bees = server.embedded("live", "bees.txt", (BEES * 4).encode())
    trains = server.embedded("live", "trains.txt", (TRAINS * 4).encode())
    # when the page opens, then it lists both, embedded, with full progress, and their dataset
    page.goto(server.url)
    for plan in (bees, trains):
        row = doc_row(page, plan["document_id"])
        expect(row).to_have_attribute("data-status", "EMBEDDED")
        n = plan["chunk_count"]
        expect(plan_row(page, plan["plan_id"]).locator(".counts")).to_have_text(f"{n} / {n}")
    expect(doc_row(page, bees["document_id"]).locator(".source")).to_contain_text("upload://live/bees.txt")
    dataset = page.locator('#datasets tr[data-dataset="live"]')
    expect(dataset.locator(".n-documents")).to_have_text("2")
    expect(dataset.locator(".n-embedded")).to_have_text("2")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")

    # and while a long document is uploaded and embedded, the page (never reloaded) records what it shows
    page.evaluate(
        """() => {
            window.sameDocument = true;
            window.seen = [];
            new MutationObserver(() => {
                document.querySelectorAll('#documents .plan').forEach((p) => {
                    window.seen.push([Number(p.dataset.planId), p.dataset.status,
                                      p.querySelector('.counts').textContent,
                                      p.querySelector('.eta').textContent]);
                });
            }).observe(document.querySelector('#documents tbody'),
                       {childList: true, subtree: true, characterData: true});
        }"""
    )
    reg = server.upload("live", "long.md", long_markdown(sections=30))
    [plan_id] = reg["plan_ids"]
    row = doc_row(page, reg["document_id"])
    expect(row).to_have_attribute("data-status", "EMBEDDED", timeout=LIVE)
    final = server.call("GET", f"/v1/plans/{plan_id}")
    assert final["status"] == "EMBEDDED" and final["chunk_count"] >= 60, final
    n = final["chunk_count"]
    expect(plan_row(page, plan_id).locator(".counts")).to_have_text(f"{n} / {n}")
    expect(dataset.locator(".n-documents")).to_have_text("3")

    # then it was the same page all along, updated from the event stream
    assert page.evaluate("window.sameDocument") is True
    stats = page.evaluate("window.indexflowDashboard.stats")
    assert stats["snapshots"] == 1 and stats["events"] >= 3, stats
    # and it showed the plan part-way, with an ETA measured from the progress it saw
    seen = [s for s in page.evaluate("window.seen") if s[0] == plan_id]
    partial = [s for s in seen if s[1] == "EMBEDDING" and s[2] != f"{n} / {n}"]
    assert partial, f"never shown part-way: {seen[:5]} … {seen[-5:]}"
    etas = [s[3] for s in partial if s[3].startswith("ETA ")]
    assert etas, f"no ETA shown while embedding: {partial}"


def test_a_search_shows_hits_with_their_bundle_context(server: Server, page: Page) -> None:
    # given a document whose first section is one bundle of several chunks, and another document
    notes = server.embedded("search", "notes.md", SECTIONED)
    server.embedded("search", "trains.txt", (TRAINS * 2).encode())
    assert notes["status"] == "EMBEDDED" and notes["chunk_count"] >= 2
    query = "moving the hives before the apple blossom"
    expected = server.call("POST", "/v1/search", {"query": query, "dataset": "search", "k": 10})["hits"]
    # when the page searches the dataset
    page.goto(server.url)
    expect(page.locator('#search-dataset option[value="search"]')).to_have_count(1)
    page.select_option("#search-dataset", "search")
    page.fill("#search-query", query)
    page.click("#search-form button[type=submit]")
    # then it shows the API's hits in order, each with its document, bundle title and paths
    hits = page.locator("#search-results .hit")
    expect(hits).to_have_count(len(expected))
    assert [h.get_attribute("data-chunk-id") for h in hits.all()] == [str(h["chunk"]["id"]) for h in expected]
    first, top = hits.nth(0), expected[0]
    assert top["document"]["id"] == notes["document_id"]
    expect(first.locator(".hit-doc")).to_have_text(top["document"]["title"] or top["document"]["source"])
    expect(first.locator(".hit-bundle-title")).to_have_text(top["bundle"]["title"])
    expect(first.locator(".hit-paths")).to_contain_text(top["bundle"]["paths"][0])
    # and the chunk is highlighted inside its bundle's text, with the bundle's text around it
    assert first.locator("mark").text_content() == top["text"]
    context = first.locator(".hit-context").text_content() or ""
    shown = context.removeprefix("… ").removesuffix(" …")
    assert top["text"] in shown and shown in top["bundle"]["text"]
    assert len(shown) > len(top["text"]), "no bundle context around the chunk"


def test_the_rerun_buttons_rerun_plans(server: Server, page: Page) -> None:
    # given a plan that failed (bytes that are no PDF) and one that is embedded
    failed = server.embedded("rerun", "broken.pdf", b"%PDF-1.4 this is not a PDF at all")
    assert failed["status"] == "FAILED" and failed["last_error"]
    good = server.embedded("rerun", "bees.txt", (BEES * 2).encode())
    page.goto(server.url)
    # then the failure is listed with its error
    item = page.locator(f'#failures li[data-plan-id="{failed["plan_id"]}"]')
    expect(item.locator(".error")).to_have_text(failed["last_error"])
    expect(page.locator("#failure-count")).not_to_have_text("0")

    # when its rerun button is clicked, then the API shows it built again under a new generation
    item.locator("button.rerun").click()
    again = server.wait_plan(
        failed["plan_id"], lambda p: p["generation"] > failed["generation"] and p["status"] == "FAILED"
    )
    assert again["generation"] == failed["generation"] + 1
    row = plan_row(page, failed["plan_id"])
    expect(row).to_have_attribute("data-generation", str(again["generation"]), timeout=QUICK)
    expect(row).to_have_attribute("data-status", "FAILED", timeout=QUICK)

    # and the embedded plan's row button rebuilds it too: a new generation, embedded again
    plan_row(page, good["plan_id"]).locator("button.rerun").click()
    rebuilt = server.wait_plan(
        good["plan_id"], lambda p: p["generation"] > good["generation"] and p["status"] == "EMBEDDED"
    )
    assert rebuilt["generation"] == good["generation"] + 1
    row = plan_row(page, good["plan_id"])
    expect(row).to_have_attribute("data-generation", str(rebuilt["generation"]), timeout=QUICK)
    expect(row).to_have_attribute("data-status", "EMBEDDED", timeout=QUICK)
    # (from the event stream: the page took no second snapshot)
    assert page.evaluate("window.indexflowDashboard.stats.snapshots") == 1


@pytest.mark.timeout(400)
def test_with_a_key_the_page_asks_for_it_then_works_and_asks_again_once_it_is_revoked(
    tmp_path: Path, browser: BrowserContext
) -> None:
    with serve(tmp_path / "keyed") as server:
        # given a served document, then a key created while the server runs
        plan = server.embedded("keyed", "bees.txt", (BEES * 2).encode())
        out = server.cli("keys", "create", "dashboard", "--role", "write")
        match = re.search(r"ixk_[A-Za-z0-9_-]{20,}", out)
        assert match, out
        secret = match.group(0)

        tab = browser.new_page()
        requests: list[Any] = []
        tab.on("request", lambda request: requests.append(request))
        # when the page opens, then it asks for a key and shows nothing
        tab.goto(server.url)
        expect(tab.locator("#key-prompt")).to_be_visible()
        expect(tab.locator("#key-reason")).to_contain_text("needs a key")
        expect(tab.locator("#conn")).to_have_attribute("data-state", "key")
        expect(tab.locator("#documents tbody tr")).to_have_count(0)
        # and a wrong key is refused: it asks again
        tab.fill("#key-input", "ixk_" + "x" * 43)
        tab.click("#key-form button[type=submit]")
        expect(tab.locator("#key-reason")).to_contain_text("invalid or revoked")
        expect(tab.locator("#key-prompt")).to_be_visible()

        # when the right key is typed in, then the page shows the documents and follows the stream
        tab.fill("#key-input", secret)
        tab.click("#key-form button[type=submit]")
        expect(tab.locator("#key-prompt")).to_be_hidden()
        expect(doc_row(tab, plan["document_id"])).to_have_attribute("data-status", "EMBEDDED")
        expect(tab.locator("#conn")).to_have_attribute("data-state", "live")
        server.key = secret
        reg = server.upload("keyed", "trains.txt", (TRAINS * 2).encode())
        expect(doc_row(tab, reg["document_id"])).to_have_attribute("data-status", "EMBEDDED", timeout=LIVE)
        assert tab.evaluate("sessionStorage.getItem('indexflow.apiKey')") == secret
        assert tab.evaluate("window.indexflowDashboard.stats.snapshots") == 1  # live, not reloaded

        # and the key never went into a URL; the event stream and every API call carried it in the header
        assert not any(secret in r.url for r in requests)
        after = [r for r in requests if "/v1/" in r.url][-3:]
        assert any("/v1/events" in r.url for r in requests)
        for request in after + [r for r in requests if "/v1/events" in r.url][-1:]:
            assert request.all_headers().get("authorization") == f"Bearer {secret}", request.url

        # when the key is revoked, then the stream ends and the page asks for a key again
        server.cli("keys", "revoke", "dashboard")
        expect(tab.locator("#key-prompt")).to_be_visible(timeout=60_000)
        expect(tab.locator("#key-reason")).to_contain_text("invalid or revoked")
        tab.close()


# -- the OpenAPI pages, offline -----------------------------------------------------------------------
def _asset_urls(html: str) -> list[str]:
    """Every URL an OpenAPI page loads: src/href attributes, the spec URL and ReDoc's spec-url."""
    urls = re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""", html)
    urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)
    return urls


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, resp.headers.get("content-type", ""), resp.read()


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/"])
def test_the_pages_reference_only_local_assets_and_those_answer(server: Server, path: str) -> None:
    status, ctype, body = _get(server.url + path)
    assert status == 200 and ctype.startswith("text/html")
    html = body.decode()
    urls = _asset_urls(html)
    assert len(urls) >= (2 if path == "/" else 3), urls  # a script, a stylesheet or favicon, the spec
    for url in urls:
        parts = urlsplit(url)
        local = not parts.scheme and not parts.netloc
        assert local or parts.scheme == "data", f"{path} loads {url} from elsewhere"
    assert "cdn" not in html.lower() and "fonts.googleapis" not in html
    with urllib.request.urlopen(server.url + path, timeout=30) as resp:
        assert "img-src 'self' data:" in resp.headers.get("content-security-policy", "")
    for url in urls:
        if url.startswith("data:"):
            continue
        status, ctype, content = _get(server.url + (url if url.startswith("/") else "/" + url))
        assert status == 200 and content, url
        if url.endswith(".js"):
            assert "javascript" in ctype, (url, ctype)


def test_the_upload_route_documents_a_multipart_file_body(server: Server) -> None:
    spec = server.call("GET", "/openapi.json")
    body = spec["paths"]["/v1/datasets/{dataset}/documents"]["post"]["requestBody"]
    form = body["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"]
    assert form["properties"]["file"] == {
        "type": "string",
        "format": "binary",
        "description": "the document's bytes",
    }
    assert body["content"]["application/json"]["schema"]["required"] == ["uri"]


def test_swagger_ui_and_redoc_render_offline_and_docs_can_upload(server: Server, page: Page) -> None:
    # given a browser in which every request that leaves the server is refused (and noted)
    outside: list[str] = []
    here = urlsplit(server.url).netloc

    def only_here(route: Route) -> None:
        if urlsplit(route.request.url).netloc == here or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    # when /docs opens, then Swagger UI renders every operation
    page.goto(server.url + "/docs")
    operations = len([m for item in server.call("GET", "/openapi.json")["paths"].values() for m in item])
    expect(page.locator(".opblock")).to_have_count(operations)
    # and the upload operation offers a file field; uploading through it is accepted (202)
    op = page.locator(f"#{UPLOAD_OP}")
    op.locator(".opblock-summary").click()
    op.locator("button.try-out__btn").click()
    op.locator('input[placeholder="dataset"]').fill("swagger")
    upload = FilePayload(name="swagger.txt", mimeType="text/plain", buffer=(BEES * 2).encode())
    op.locator('input[type="file"]').set_input_files(files=[upload])
    op.locator("button.execute").click()
    status = op.locator(".live-responses-table tr.response .response-col_status")
    expect(status).to_have_text("202", timeout=30_000)
    listed = server.call("GET", "/v1/documents?dataset=swagger")["documents"]
    assert [d["source"] for d in listed] == ["upload://swagger/swagger.txt"]

    # when /redoc opens, then ReDoc renders the operations too
    page.goto(server.url + "/redoc")
    expect(page.get_by_text("Upload Document").first).to_be_visible(timeout=30_000)
    # and nothing was fetched from anywhere else (ReDoc's footer logo, hard-coded to a CDN, is refused
    # by the page's Content-Security-Policy before any request)
    assert outside == []
