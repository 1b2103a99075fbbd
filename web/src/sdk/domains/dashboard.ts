import { dashboardRoom, userRoom } from '../events.gen';
import type { SdkError } from '../errors';
import type { Http } from '../http';
import {
  applyDashboardEvents,
  applyDashboardSnapshot,
  comparableDashboard,
  DashboardStore,
  type DashboardEvent,
  type DashboardSnapshot,
} from '../reducers/dashboard';
import { Rest } from '../rest';
import type { Subscription } from '../subscriptions';
import { subscribeTyped, type RoomClient } from './typed';

/** GET /api/orgs/{org_id}/dashboard: metrics over the projects the caller may see, the activity feed, the cursor. */
export function dashboard(api: Rest, orgId: string, signal?: AbortSignal): Promise<DashboardSnapshot> {
  return api.get('/api/orgs/{org_id}/dashboard', { path: { org_id: orgId }, signal });
}

export interface LiveDashboard {
  store: DashboardStore;
  subscription: Subscription;
}

/**
 * The dashboard kept live, behind the `dashboard` phase flag (off: the snapshot is polled). The
 * org's Owners, Admins and Members hear `dashboard:{orgId}`; a Guest, who sees only their own
 * projects, hears their values on their own `user:` room.
 */
export function watchDashboard(
  client: RoomClient & { http: Http },
  orgId: string,
  audience: { guest: boolean; userId: string },
  onError?: (error: SdkError) => void,
  store: DashboardStore = new DashboardStore(),
): LiveDashboard {
  const room = audience.guest ? userRoom(audience.userId) : dashboardRoom(orgId);
  const subscription = subscribeTyped<DashboardEvent>(
    client,
    room,
    {
      async load(signal) {
        const snapshot = await dashboard(new Rest(client.http), orgId, signal);
        applyDashboardSnapshot(store, snapshot);
        return Number(snapshot.cursor) || 0;
      },
      // A Guest's user room carries other events too, and other orgs' dashboards: keep this org's.
      apply: (events) => applyDashboardEvents(store, events.filter((e) => e.data.organizationId === orgId)),
      onError,
      verify: {
        async fetch(signal) {
          const snapshot = await dashboard(new Rest(client.http), orgId, signal);
          return {
            cursor: Number(snapshot.cursor) || 0,
            state: comparableDashboard(snapshot.activity),
            repair: () => applyDashboardSnapshot(store, snapshot),
          };
        },
        current: () => comparableDashboard(store.activity.peek()),
      },
    },
    { orgId, phase: 'dashboard' },
  );
  return { store, subscription };
}
