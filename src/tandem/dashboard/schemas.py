from __future__ import annotations

from tandem.dashboard.events import ActivityOut, DashboardMetrics
from tandem.realtime.envelope import Model


class DashboardOut(Model):
    metrics: DashboardMetrics
    activity: list[ActivityOut]  # newest first
    cursor: int
