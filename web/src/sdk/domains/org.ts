import type { components } from '../api.gen';
import type { SdkError } from '../errors';
import type { Http } from '../http';
import { applyMemberEvents, applyMembersSnapshot, MembersStore } from '../reducers/members';
import type { Subscription } from '../subscriptions';
import { subscribeTyped, type EventsOf, type RoomClient, type TypedSubscribeOptions } from './typed';

export type OrgEvent = EventsOf<'org.'>;

export const orgRoom = (orgId: string) => `org:${orgId}`;
export const userRoom = (userId: string) => `user:${userId}`;

/** The organization room (members, presence), behind the `members` phase flag. */
export function subscribeOrg(client: RoomClient, orgId: string, options: TypedSubscribeOptions<OrgEvent>): Subscription {
  return subscribeTyped(client, orgRoom(orgId), options, { orgId, phase: 'members' });
}

/** GET /api/orgs/{id}/members */
export type MembersSnapshot = components['schemas']['MembersOut'];

export interface LiveMembers {
  store: MembersStore;
  subscription: Subscription;
}

const membersPath = (orgId: string) => `/api/orgs/${encodeURIComponent(orgId)}/members`;

/**
 * The members of an organization, kept live: snapshot, then events through the shared reducer.
 * `prefetched`, a snapshot requested earlier (see `prefetchMembers`), stands in for the first load.
 */
export function watchMembers(
  client: RoomClient & { http: Http },
  orgId: string,
  onError?: (error: SdkError) => void,
  store: MembersStore = new MembersStore(),
  prefetched?: Promise<MembersSnapshot>,
): LiveMembers {
  let pending = prefetched;
  /** The prefetched snapshot, the first time only; a prefetch that failed is no verdict: undefined, ask again. */
  const takePrefetched = async (signal: AbortSignal): Promise<MembersSnapshot | undefined> => {
    const snapshot = pending;
    pending = undefined;
    try {
      return snapshot && (await untilAborted(snapshot, signal));
    } catch (err) {
      if (signal.aborted) throw err;
      return undefined;
    }
  };
  const subscription = subscribeOrg(client, orgId, {
    async load(signal) {
      const res = (await takePrefetched(signal)) ?? (await client.http.get<MembersSnapshot>(membersPath(orgId), { signal }));
      applyMembersSnapshot(store, res.members);
      return Number(res.cursor) || 0;
    },
    apply: (events) => applyMemberEvents(store, events),
    onError,
    ephemeral: true,
  });
  return { store, subscription };
}

/**
 * Requests an organization's members snapshot ahead of its watcher: a cold load of the
 * dashboard asks for it beside /api/me instead of after it. A snapshot older than the
 * room's join is harmless: events after its cursor are replayed, and the ephemeral
 * presence is reloaded once joined, as for any snapshot.
 */
export function prefetchMembers(http: Http, orgId: string): Promise<MembersSnapshot> {
  const snapshot = http.get<MembersSnapshot>(membersPath(orgId));
  snapshot.catch(() => undefined); // it may never be used (the org was left meanwhile): no unhandled rejection
  return snapshot;
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
