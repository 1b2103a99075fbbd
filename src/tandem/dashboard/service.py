"""The dashboard: tallies kept by every task write, the snapshot, the activity feed, and the
throttled `dashboard.metrics.updated` sent by the leading dispatcher.

Keeping the metrics current costs the same with ten tasks or a million: a task write adds or takes
one from a few tally rows (`tally`, in the writer's transaction) and marks its project changed;
metrics are sums over those rows (dashboard/metrics.py says what each one means). Nothing here
commits: the request's (or the emitter's) unit of work does.

Updates go out at most once a second per org, from one instance (the leading dispatcher's job):
a write marks its (org, project) with a counter; the emitter reads the marks, computes, records the
events, and clears only the marks it read, so a write that lands meanwhile keeps its mark and is
sent on the next pass — the last value always goes out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from tandem.dashboard import activity_repository, repository
from tandem.dashboard.events import (
    ActivityOut,
    ActivityTarget,
    DashboardActivityCreated,
    DashboardMetrics,
    DashboardMetricsUpdated,
    TargetKind,
    Verb,
)
from tandem.dashboard.metrics import (
    EVERY_POINT,
    TaskFacts,
    build,
    deltas_of,
    first_day_read,
    update_of,
)
from tandem.dashboard.models import WHOLE_ORG
from tandem.dashboard.policy import Viewer
from tandem.kit.clock import aware, iso, utcnow
from tandem.kit.ids import new_id
from tandem.projects.events import ProjectActivityCreated
from tandem.realtime import leader, outbox
from tandem.realtime import log as event_log
from tandem.realtime.rooms import dashboard_room, project_room, user_room

if TYPE_CHECKING:
    from tandem.db import Database

__all__ = ["TaskFacts", "Verb", "mark_dirty", "record_activity", "tally", "tally_many"]

EMIT_INTERVAL_SECONDS = 1.0
WHOLE_ORG_AUDIENCE = "*"
ACTIVITY_PAGE = 20


# -- kept by every write -------------------------------------------------------------------


async def tally(session: AsyncSession, before: TaskFacts | None, after: TaskFacts | None) -> None:
    """Count one task write: a create (before=None), a change or move (both), a delete (after=None).

    Call it in the write's transaction, with the task as it was and as it is now."""
    await repository.add_deltas(session, deltas_of([(before, after)]))


async def tally_many(
    session: AsyncSession, changes: Iterable[tuple[TaskFacts | None, TaskFacts | None]]
) -> None:
    """Count many task writes at once (e.g. a column renamed): one upsert per tally row touched."""
    await repository.add_deltas(session, deltas_of(changes))


async def mark_dirty(
    session: AsyncSession,
    org_id: str,
    project_id: str | None = None,
    *,
    every_point: bool = False,
) -> None:
    """Tell the emitter an org's metrics changed without a task write: a project's status (active
    projects), or who may see a project (`every_point`: a Guest's whole series may change)."""
    since = EVERY_POINT if every_point else None
    await repository.mark(session, [(org_id, project_id or WHOLE_ORG, since)])


async def record_activity(
    session: AsyncSession,
    *,
    org_id: str,
    project_id: str | None,
    actor_id: str | None,
    verb: Verb,
    kind: TargetKind,
    target_id: str,
    title: str,
    detail: dict[str, str] | None = None,
) -> ActivityOut:
    """Add a line to the org's feed and send it: to `dashboard:{orgId}`, and to the `user:` room of
    each Guest who belongs to the project (a Guest sees only their projects' activity)."""
    now = utcnow()
    activity = ActivityOut(
        id=new_id("act"),
        organization_id=org_id,
        project_id=project_id,
        actor_id=actor_id,
        verb=verb,
        target=ActivityTarget(kind=kind, id=target_id, title=title),
        detail=detail,
        created_at=iso(now),  # type: ignore[arg-type]
    )
    await activity_repository.add_activity(
        session,
        {
            "id": activity.id,
            "org_id": org_id,
            "project_id": project_id,
            "actor_id": actor_id,
            "verb": verb,
            "target": activity.target.wire(),
            "detail": detail,
            "created_at": now,
        },
    )
    guests = await repository.project_guests(session, org_id, project_id) if project_id else []
    await outbox.record(
        session,
        DashboardActivityCreated(organization_id=org_id, activity=activity),
        [dashboard_room(org_id), *(user_room(g) for g in guests)],
        org_id=org_id,
        actor_id=actor_id,
    )
    if project_id is not None:  # the project page's recent activity
        await outbox.record(
            session,
            ProjectActivityCreated(project_id=project_id, activity=activity),
            [project_room(project_id)],
            org_id=org_id,
            actor_id=actor_id,
        )
    return activity


# -- reads ---------------------------------------------------------------------------------


async def metrics(
    session: AsyncSession, org_id: str, guest_id: str | None, today: date | None = None
) -> DashboardMetrics:
    """The org's metrics (over a Guest's projects when guest_id is given), as of today UTC."""
    today = today or utcnow().date()
    found = await repository.sums(session, org_id, guest_id, today, first_day_read(today))
    return build(today, found.status_rows, found.overdue, found.day_rows, found.active_projects)


def _activity_out(row: Any) -> ActivityOut:
    return ActivityOut(
        id=row.id,
        organization_id=row.org_id,
        project_id=row.project_id,
        actor_id=row.actor_id,
        verb=row.verb,
        target=ActivityTarget.model_validate(row.target),
        detail=row.detail,
        created_at=iso(aware(row.created_at)),  # type: ignore[arg-type]
    )


async def activity(
    session: AsyncSession, viewer: Viewer, before: str | None, limit: int = ACTIVITY_PAGE
) -> list[ActivityOut]:
    rows = await activity_repository.activities(
        session, viewer.org_id, viewer.guest_id, before, limit
    )
    return [_activity_out(row) for row in rows]


async def project_activity(
    session: AsyncSession, project_id: str, limit: int = ACTIVITY_PAGE
) -> list[ActivityOut]:
    """A project's recent lines of the feed, newest first (the project page)."""
    return [
        _activity_out(r)
        for r in await activity_repository.project_activities(session, project_id, limit)
    ]


async def dashboard(
    session: AsyncSession, viewer: Viewer, before: str | None, limit: int
) -> dict[str, Any]:
    """The dashboard's snapshot: metrics, a page of the feed (newest first), the event cursor."""
    cursor = await event_log.latest_seq(session)  # read before the state: see SPEC §5.4
    return {
        "metrics": await metrics(session, viewer.org_id, viewer.guest_id),
        "activity": await activity(session, viewer, before, limit),
        "cursor": cursor,
    }


async def rebuild_tallies(session: AsyncSession, org_id: str) -> None:
    """Count an org's tallies again from its tasks (reads every task: a repair, not a request path)."""
    await repository.clear_tallies(session, org_id)
    facts = await repository.task_facts(session, org_id)
    await repository.add_deltas(session, deltas_of((None, f) for f in facts))
    await mark_dirty(session, org_id, every_point=True)


# -- the throttled updates, run by the leading dispatcher -----------------------------------

_rolled_over: dict[str, date] = {}

# Run in the transaction that sends an org's update, before its marks are cleared, with the
# projects those marks named (WHOLE_ORG among them: every project of the org may have changed).
OrgEmitted = Callable[[AsyncSession, str, set[str]], Awaitable[None]]
_also_emit: list[OrgEmitted] = []


def also_emit(hook: OrgEmitted) -> OrgEmitted:
    """Register a hook that sends more throttled updates from the same marks (the project page's
    counters): at most once a second per org, the last value always sent, as the dashboard's."""
    _also_emit.append(hook)
    return hook


@leader.every_leader_pass
async def emit_metrics(db: Database) -> None:
    """Send `dashboard.metrics.updated` for each changed org whose last one is a second old."""
    now = utcnow()
    today = now.date()
    if _rolled_over.get("day") != today:
        # A new UTC day moves the series' windows and may make tasks overdue: every org that was
        # sent metrics on an earlier day gets fresh ones, even with no write today.
        async with db.unit_of_work() as session:
            stale = await repository.stale_orgs(session, today)
            if stale:
                await repository.mark(session, [(org, WHOLE_ORG, None) for org in stale])
        _rolled_over["day"] = today
    async with db.read() as session:
        pending = await repository.marks(session)
        if not pending:
            return
        last_sent = await repository.last_emitted(session)
    by_org: dict[str, list[repository.Mark]] = defaultdict(list)
    for found in pending:
        by_org[found.org_id].append(found)
    interval = timedelta(seconds=EMIT_INTERVAL_SECONDS)
    for org_id, marks in by_org.items():
        sent_at = last_sent.get(org_id)
        if sent_at is not None and now - aware(sent_at) < interval:  # type: ignore[operator]
            continue  # its marks stay: a later pass sends the trailing value
        async with db.unit_of_work() as session:
            await emit_org(session, org_id, marks, today)


async def emit_org(
    session: AsyncSession, org_id: str, marks: list[repository.Mark], today: date
) -> None:
    """Send one org's metrics to each audience its marks concern, and clear those marks."""
    now = utcnow()
    sent = await repository.emitted(session, org_id)
    audiences: dict[str, date | None] = {WHOLE_ORG_AUDIENCE: _since(marks)}
    guests = await repository.org_guests(session, org_id)
    for guest in guests:
        visible = await repository.guest_projects(session, org_id, guest)
        theirs = [m for m in marks if m.project_id in visible or m.project_id == WHOLE_ORG]
        if theirs or guest not in sent:
            audiences[guest] = _since(theirs) if guest in sent else EVERY_POINT
    for audience, since in audiences.items():
        guest_id = None if audience == WHOLE_ORG_AUDIENCE else audience
        current = await metrics(session, org_id, guest_id, today)
        before = sent.get(audience)
        update = update_of(before[1] if before else None, current, since)
        room = dashboard_room(org_id) if guest_id is None else user_room(guest_id)
        await outbox.record(
            session,
            DashboardMetricsUpdated(organization_id=org_id, metrics=update),
            [room],
            org_id=org_id,
        )
        await repository.save_emitted(session, org_id, audience, now, today, current.wire())
    await repository.forget_audiences(session, org_id, [WHOLE_ORG_AUDIENCE, *guests])
    for hook in _also_emit:
        await hook(session, org_id, {m.project_id for m in marks})
    await repository.clear_marks(session, marks)


def _since(marks: list[repository.Mark]) -> date | None:
    days = [m.since_day for m in marks if m.since_day is not None]
    return min(days) if days else None
