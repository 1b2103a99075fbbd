import type { SdkError } from '../errors';
import type { Http } from '../http';
import { applyMemberEvents, applyMembersSnapshot, MembersStore, type MemberRow } from '../reducers/members';
import type { Subscription } from '../subscriptions';
import { subscribeTyped, type EventsOf, type RoomClient, type TypedSubscribeOptions } from './typed';

export type OrgEvent = EventsOf<'org.'>;

export const orgRoom = (orgId: string) => `org:${orgId}`;
export const userRoom = (userId: string) => `user:${userId}`;

/** The organization room (members, presence), behind the `members` phase flag. */
export function subscribeOrg(client: RoomClient, orgId: string, options: TypedSubscribeOptions<OrgEvent>): Subscription {
  return subscribeTyped(client, orgRoom(orgId), options, { orgId, phase: 'members' });
}

export interface MembersSnapshot {
  members: MemberRow[];
  cursor: number;
}

export interface LiveMembers {
  store: MembersStore;
  subscription: Subscription;
}

/** The members of an organization, kept live: snapshot, then events through the shared reducer. */
export function watchMembers(
  client: RoomClient & { http: Http },
  orgId: string,
  onError?: (error: SdkError) => void,
  store: MembersStore = new MembersStore(),
): LiveMembers {
  const subscription = subscribeOrg(client, orgId, {
    async load(signal) {
      const res = await client.http.get<MembersSnapshot>(`/api/orgs/${encodeURIComponent(orgId)}/members`, { signal });
      applyMembersSnapshot(store, res.members);
      return Number(res.cursor) || 0;
    },
    apply: (events) => applyMemberEvents(store, events),
    onError,
    ephemeral: true,
  });
  return { store, subscription };
}
