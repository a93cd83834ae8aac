"""Take docs/dashboard.png: the dashboard of a real ``indexflow serve`` in headless Chromium.

    .venv/bin/python scripts/screenshot_dashboard.py [--out docs/dashboard.png]

It serves a throw-away home, uploads the sample corpus (samples/) and a file that is no PDF (a
failure to show), then a long document that is still being embedded when the picture is taken
(progress bars, ETA), and searches the corpus. Chromium is Debian's (scripts/install_chromium.sh),
launched as in the browser tests (tests/browser.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.browser import launch, serve  # noqa: E402
from tests.e2e.test_dashboard import long_markdown  # noqa: E402

QUERY = "how do I rebuild a city after an earthquake?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="indexflow-shot-") as tmp:
        work = Path(tmp)
        # batches of 2: the long document stays part-way long enough to be pictured with its ETA
        with serve(work / "state", env={"INDEXING_EMBED_BATCH_SIZE": "2"}) as server:
            samples = sorted((ROOT / "samples").iterdir())
            plans = [server.embedded("demo", f.name, f.read_bytes()) for f in samples]
            server.embedded("demo", "scan.pdf", b"%PDF-1.4 this file was cut off in transfer")
            excerpt = (ROOT / "samples" / "composting.txt").read_bytes()[:3000]
            server.embedded("notes", "composting_excerpt.txt", excerpt)
            with sync_playwright() as p:
                browser = launch(p, work / "profile", viewport={"width": 1360, "height": 1400})
                page = browser.new_page()
                page.goto(server.url)
                expect(page.locator("#documents tbody tr")).to_have_count(len(plans) + 2)
                page.select_option("#search-dataset", "demo")
                page.fill("#search-query", QUERY)
                page.click("#search-form button[type=submit]")
                expect(page.locator("#search-results .hit").first).to_be_visible()
                # a long upload, pictured while it is being embedded and its ETA is known
                server.upload("demo", "annual_report.md", long_markdown(sections=120))
                eta = page.locator('#documents .plan[data-status="EMBEDDING"] .eta')
                deadline = time.monotonic() + 120
                while not (eta.count() and eta.first.inner_text().startswith("ETA")):
                    if time.monotonic() > deadline:
                        raise SystemExit("the long document never showed an ETA")
                    time.sleep(0.2)
                page.wait_for_timeout(300)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out))  # the viewport: status, then the first hits
                browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
