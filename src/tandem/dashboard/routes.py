from __future__ import annotations

from fastapi import APIRouter, Query

from tandem.dashboard import policy, service
from tandem.dashboard.schemas import DashboardOut
from tandem.deps import ReadSession

router = APIRouter(tags=["dashboard"])


@router.get("/orgs/{org_id}/dashboard", response_model=DashboardOut)
async def dashboard(
    viewer: policy.ReadingViewer,
    session: ReadSession,
    before: str | None = Query(default=None, max_length=32),
    limit: int = Query(default=service.ACTIVITY_PAGE, ge=1, le=100),
) -> DashboardOut:
    """The dashboard's snapshot: metrics, the activity feed (older pages with `before`), the cursor."""
    return DashboardOut.model_validate(await service.dashboard(session, viewer, before, limit))
