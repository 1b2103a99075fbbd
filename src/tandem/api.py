"""Every domain's router under /api, one line each."""

from fastapi import APIRouter

from tandem.auth.routes import router as auth_router
from tandem.flags.routes import router as flags_router
from tandem.orgs.routes import router as orgs_router
from tandem.realtime.routes import router as events_router
from tandem.telemetry.routes import router as telemetry_router

api_router = APIRouter(prefix="/api")
api_router.include_router(auth_router)
api_router.include_router(orgs_router)
api_router.include_router(flags_router)
api_router.include_router(events_router)
api_router.include_router(telemetry_router)
