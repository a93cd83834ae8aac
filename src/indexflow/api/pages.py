"""The pages served beside the API: the live status dashboard at ``/`` and the OpenAPI pages.

Everything a page loads ships with the package, so the pages work on a machine with no network:

- ``/`` — the dashboard (``static/dashboard/``: plain HTML, CSS and JavaScript, no build step).
  It reads the API like any client (``/v1/documents``, ``/v1/documents/{id}``, ``/v1/events``,
  ``/v1/search``, ``/v1/plans/{id}/rerun``), with the API key the user types in when the API
  answers 401; the page itself holds no data, so it is public like ``/docs``.
- ``/docs`` — Swagger UI from the ``swagger-ui-bundle-v2`` package (Swagger UI 5: it reads the
  OpenAPI 3.1 document FastAPI writes), served under ``/static/swagger-ui/``.
- ``/redoc`` — ReDoc's standalone bundle, vendored under ``static/redoc/`` with its license.

The routes are plain Starlette routes and mounts, not API routes: they take no key and stay out
of the OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
DASHBOARD = STATIC / "dashboard" / "index.html"
SWAGGER_PREFIX = "/static/swagger-ui"
STATIC_PREFIX = "/static"

# The dashboard loads its own script and style only, and talks to this origin only.
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# The OpenAPI pages run inline scripts and styles; they only may not fetch images from elsewhere
# (ReDoc's footer logo is hard-coded to a CDN: refused, it hides itself).
DOCS_CSP = "img-src 'self' data:; frame-ancestors 'none'"


def swagger_ui_dir() -> Path:
    """The Swagger UI files of the ``swagger-ui-bundle-v2`` package."""
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


def add_pages(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` and ``/docs``, ``/redoc`` with assets from the package.

    Call it on an app built with ``docs_url=None, redoc_url=None`` (FastAPI's own pages load
    their assets from a CDN).
    """
    # the more specific mount first: /static would answer 404 for /static/swagger-ui/…
    app.mount(SWAGGER_PREFIX, StaticFiles(directory=swagger_ui_dir()), name="swagger-ui")
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC), name="static")
    page = DASHBOARD.read_text(encoding="utf-8")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    async def dashboard(request: Request) -> HTMLResponse:
        headers = {"Content-Security-Policy": DASHBOARD_CSP, "Cache-Control": "no-cache"}
        return HTMLResponse(page, headers=headers)

    async def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        html = get_swagger_ui_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{base}{SWAGGER_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{SWAGGER_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{base}{SWAGGER_PREFIX}/favicon-32x32.png",
            oauth2_redirect_url=base + oauth2_redirect,
            init_oauth=app.swagger_ui_init_oauth,
            # validatorUrl null: no badge fetched from validator.swagger.io
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )
        html.headers["Content-Security-Policy"] = DOCS_CSP
        return html

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        html = get_redoc_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{base}{STATIC_PREFIX}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{base}{SWAGGER_PREFIX}/favicon-32x32.png",
            with_google_fonts=False,
        )
        html.headers["Content-Security-Policy"] = DOCS_CSP
        return html

    app.add_route("/", dashboard, include_in_schema=False)
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route(oauth2_redirect, swagger_ui_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
