import { signal } from '@preact/signals';
import type { components } from '../api.gen';
import type { Envelope, EventMap } from '../events.gen';

export type DashboardMetrics = EventMap['dashboard.metrics.updated']['metrics'];
export type Activity = EventMap['dashboard.activity.created']['activity'];
export type SeriesPoint = DashboardMetrics['burndownSeries'][number];
export type DashboardSnapshot = components['schemas']['DashboardOut'];
export type DashboardEvent = 'dashboard.metrics.updated' | 'dashboard.activity.created';

/** How many lines of the activity feed a page keeps. */
export const ACTIVITY_KEPT = 50;

/** The dashboard's state: metrics and the newest activity, as signals a page renders from. */
export class DashboardStore {
  readonly metrics = signal<DashboardMetrics | null>(null);
  readonly activity = signal<Activity[]>([]);
}

export function applyDashboardSnapshot(store: DashboardStore, snapshot: DashboardSnapshot): void {
  store.metrics.value = snapshot.metrics;
  store.activity.value = snapshot.activity.slice(0, ACTIVITY_KEPT);
}

/**
 * A series after an update that carries only its changed points: each point is set by its day `t`,
 * points before `start` leave the window, and the result stays in day order.
 */
export function mergeSeries(current: SeriesPoint[], changed: SeriesPoint[], start: string): SeriesPoint[] {
  const byDay = new Map(current.map((p) => [p.t, p.v]));
  for (const point of changed) byDay.set(point.t, point.v);
  return [...byDay.entries()]
    .filter(([t]) => t >= start)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([t, v]) => ({ t, v }));
}

export function applyMetrics(current: DashboardMetrics | null, update: DashboardMetrics): DashboardMetrics {
  if (!current) return update;
  return {
    ...update,
    burndownSeries: mergeSeries(current.burndownSeries, update.burndownSeries, update.burndownStart),
    completedPerWeek: mergeSeries(current.completedPerWeek, update.completedPerWeek, update.completedPerWeekStart),
  };
}

/** The one reducer for the dashboard's events, whatever room brought them. */
export function applyDashboardEvents(store: DashboardStore, envelopes: Array<Envelope<DashboardEvent>>): void {
  for (const envelope of envelopes) {
    if (envelope.event === 'dashboard.metrics.updated') {
      const { metrics } = (envelope as Envelope<'dashboard.metrics.updated'>).data;
      store.metrics.value = applyMetrics(store.metrics.peek(), metrics);
    } else if (envelope.event === 'dashboard.activity.created') {
      const { activity } = (envelope as Envelope<'dashboard.activity.created'>).data;
      const feed = store.activity.peek();
      if (feed.some((a) => a.id === activity.id)) continue;
      store.activity.value = [activity, ...feed]
        .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
        .slice(0, ACTIVITY_KEPT);
    }
  }
}

/** How much of the feed soak verification compares: the newest lines, which every snapshot has. */
export const ACTIVITY_VERIFIED = 10;

/**
 * The dashboard's state as soak verification compares it: the newest activity. The metrics are
 * left out: they go out throttled (up to a second late) and some change with the date alone.
 */
export function comparableDashboard(activity: readonly Activity[]): unknown {
  return Object.fromEntries(activity.slice(0, ACTIVITY_VERIFIED).map((a, i) => [String(i), a]));
}
