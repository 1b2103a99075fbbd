import type { components } from '../api.gen';
import type { SdkError } from '../errors';
import { orgRoom } from '../events.gen';
import type { Http } from '../http';
import { Rest } from '../rest';
import { applyMemberEvents, applyMembersSnapshot, comparableMembers, MembersStore } from '../reducers/members';
import type { Subscription } from '../subscriptions';
import { subscribeTyped, type EventsOf, type RoomClient, type TypedSubscribeOptions } from './typed';

export type OrgEvent = EventsOf<'org.'>;

type Schemas = components['schemas'];
export type OrgRole = Schemas['RoleIn']['role'];

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

/** GET /api/orgs/{org_id}/members */
export function members(api: Rest, orgId: string, signal?: AbortSignal): Promise<MembersSnapshot> {
  return api.get('/api/orgs/{org_id}/members', { path: { org_id: orgId }, signal });
}

/** PATCH /api/orgs/{org_id}/members/{user_id}: the change comes back as org.member.updated. */
export function changeRole(api: Rest, orgId: string, userId: string, role: OrgRole): Promise<Schemas['MemberEnvelope']> {
  return api.patch('/api/orgs/{org_id}/members/{user_id}', { path: { org_id: orgId, user_id: userId }, body: { role } });
}

/** DELETE /api/orgs/{org_id}/members/{user_id} */
export function removeMember(api: Rest, orgId: string, userId: string): Promise<void> {
  return api.delete('/api/orgs/{org_id}/members/{user_id}', { path: { org_id: orgId, user_id: userId } });
}

/** POST /api/orgs/{org_id}/leave */
export function leave(api: Rest, orgId: string): Promise<void> {
  return api.post('/api/orgs/{org_id}/leave', { path: { org_id: orgId } });
}

/** POST /api/orgs/{org_id}/invites: a link that makes `email` a `role` of the organization. */
export async function invite(api: Rest, orgId: string, email: string, role: OrgRole): Promise<Schemas['InviteOut']> {
  const res = await api.post('/api/orgs/{org_id}/invites', { path: { org_id: orgId }, body: { email, role } });
  return res.invite;
}

/** GET /api/orgs/{org_id}/invites: the invites not accepted yet. */
export async function pendingInvites(api: Rest, orgId: string): Promise<Schemas['InviteOut'][]> {
  const res = await api.get('/api/orgs/{org_id}/invites', { path: { org_id: orgId } });
  return res.invites;
}

/** POST /api/orgs: a new organization, its creator its Owner. */
export async function createOrg(api: Rest, name: string): Promise<Schemas['OrganizationOut']> {
  const res = await api.post('/api/orgs', { body: { name } });
  return res.organization;
}

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
      const res = (await takePrefetched(signal)) ?? (await members(new Rest(client.http), orgId, signal));
      applyMembersSnapshot(store, res.members);
      return Number(res.cursor) || 0;
    },
    apply: (events) => applyMemberEvents(store, events),
    onError,
    ephemeral: true,
    verify: {
      async fetch(signal) {
        const res = await members(new Rest(client.http), orgId, signal);
        return { cursor: Number(res.cursor) || 0, state: comparableMembers(res.members), repair: () => applyMembersSnapshot(store, res.members) };
      },
      current: () => comparableMembers(store.ids.peek().map((id) => store.peek(id)!)),
    },
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
  const snapshot = members(new Rest(http), orgId);
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
