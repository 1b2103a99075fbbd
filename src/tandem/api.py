"""Every domain's router under /api, one line each."""

from fastapi import FastAPI

from tandem.auth.routes import router as auth_router
from tandem.flags.routes import router as flags_router
from tandem.orgs.routes import router as orgs_router
from tandem.realtime.routes import router as events_router
from tandem.telemetry.routes import router as telemetry_router

API = "/api"


def include_api(app: FastAPI) -> None:
    # Straight into the app, each with the /api prefix, rather than through one /api router: FastAPI
    # matches a request against every level of included routers, and again level by level as it hands
    # it down, so a level less is a third fewer route regexes per request.
    app.include_router(auth_router, prefix=API)
    app.include_router(orgs_router, prefix=API)
    app.include_router(flags_router, prefix=API)
    app.include_router(events_router, prefix=API)
    app.include_router(telemetry_router, prefix=API)
