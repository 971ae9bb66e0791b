"""The FastAPI application: ``create_app(settings)`` builds it; the lifespan opens what it shares.

Once per worker process the lifespan opens the database (migrating it), the matching service (which
loads or rebuilds the PDQ index), the key cache and the audit writer; on shutdown it writes what the
audit writer still holds and closes the database. Uvicorn stops accepting connections and lets
in-flight requests finish before the lifespan ends (graceful shutdown on SIGTERM / Ctrl-C).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from takeback import __version__
from takeback.config import Settings
from takeback.store import database_url, open_database
from takeback.web.auditlog import AuditWriter
from takeback.web.deps import ServiceState
from takeback.web.errors import install_error_handlers
from takeback.web.fastpath import FastLookups
from takeback.web.index import MatcherHandle
from takeback.web.jsonbody import GuardedRoute
from takeback.web.limits import BodyLimitMiddleware
from takeback.web.portal.guard import PortalHeaders
from takeback.web.security import KeyCache
from takeback.web.textguard import RefuseNulAddresses
from takeback.web.workers import ServeRun, die_with_parent

log = logging.getLogger("takeback.web")

DESCRIPTION = """\
Match images and hashes against takeback's hash banks.

The `/h`, `/m` and `/c` routes follow the API of Meta's Hasher-Matcher-Actioner (HMA), so an HMA
client works unchanged once it sends an API key; `/v1` routes go further (batch matching,
hash-and-match with explanations, key management). Every route except `/status` and `/status/live`
needs an API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: from ``TAKEBACK_*`` environment variables)."""
    cfg = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Concurrency comes from requests and workers; a multi-threaded BLAS under each upload's PDQ
        # matrix products only fights them for the cores (measured: 4x slower per 1-MP JPEG).
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        db = open_database(database_url(cfg))
        state = ServiceState(
            settings=cfg,
            db=db,
            keys=KeyCache(db, ttl_s=cfg.api_key_cache_seconds, default_rate=cfg.api_rate_limit),
            audit=AuditWriter(db),
            matcher=MatcherHandle(db, data_dir=cfg.ensure_data_dir(), run=ServeRun.from_env()),
        )
        state.matcher.start()
        state.audit.start()
        from takeback.web.portal.fonts import warm_in_background

        warm_in_background(cfg.ensure_data_dir())
        # Everything alive now (modules, routes, schemas) lives as long as the worker: take it out of
        # the cyclic collector's sight so full collections stay short (tail latency).
        gc.freeze()
        app.state.takeback = state
        try:
            yield
        finally:
            await state.audit.close()
            state.matcher.close()
            db.dispose()

    app = FastAPI(
        title="takeback matching service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served below from local files: nothing is fetched from a CDN
        redoc_url=None,
    )
    app.router.route_class = GuardedRoute  # the app's own routes too (see jsonbody.py)
    _offline_docs(app)
    _document_auth(app)
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=cfg.max_upload_bytes,
        body_timeout_s=cfg.body_timeout_seconds,
        body_deadline_s=cfg.body_deadline_seconds,
        body_min_rate=cfg.body_min_rate,
    )
    app.add_middleware(PortalHeaders)  # CSP, no-referrer, no-store on the portal's pages (guard.py)
    app.add_middleware(FastLookups)  # hot GET lookups skip routing (see fastpath.py)
    app.add_middleware(RefuseNulAddresses)  # outermost: no store can hold NUL (see textguard.py)

    from takeback.web.api import (
        configuration,
        curation,
        feed,
        feedback,
        hashing,
        holds,
        keys,
        matching,
        status,
        v1,
    )

    app.include_router(status.router)
    app.include_router(hashing.router)
    app.include_router(matching.router)
    app.include_router(curation.router)
    app.include_router(configuration.router)
    app.include_router(v1.router)
    app.include_router(feed.router)
    app.include_router(feedback.router)
    app.include_router(holds.router)
    app.include_router(keys.router)
    from takeback.web.portal import routes as portal

    app.mount("/assets", StaticFiles(directory=Path(portal.__file__).parent / "static"), name="portal-assets")
    app.include_router(portal.router)
    from takeback.web import console, review

    console.install(app)  # /console and /review: the staff pages (after the error handlers above)
    app.include_router(review.router)
    return app


def _document_auth(app: FastAPI) -> None:
    """Declare the API-key schemes in the OpenAPI document (so /docs has an Authorize button)."""
    from typing import Any

    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "tbk_... API key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            }
            schema["security"] = [{"bearer": []}, {"apiKey": []}]
            for path, ops in schema["paths"].items():
                if path.startswith("/status"):
                    for op in ops.values():
                        op["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _offline_docs(app: FastAPI) -> None:
    """``/docs`` with Swagger UI's files shipped by the ``fastapi-offline`` package (no CDN)."""
    import fastapi_offline

    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs/static", StaticFiles(directory=static), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="takeback matching service",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon.png",
        )


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` worker processes: settings come from the environment.
    A worker started by Uvicorn's supervisor stops when the supervisor dies (``web.workers``)."""
    die_with_parent()
    return create_app(Settings())
