import type { components } from '../api.gen';
import { ORG_MEMBER_ROLES, type Envelope, type EventMap } from '../events.gen';
import type { OrgEvent } from '../domains/org';
import { KeyedStore } from '../store';

/** A member as the event contract defines it. */
export type OrgMember = EventMap['org.member.updated']['member'];
export type OrgRole = OrgMember['role'];
export type MemberStatus = OrgMember['status'];

/** A row of the members table: the contract's member plus live presence (GET /api/orgs/{id}/members). */
export type MemberRow = components['schemas']['MemberOut'];

/** Every role, highest first (the contract's order). */
export const ROLES: readonly OrgRole[] = ORG_MEMBER_ROLES;

export class MembersStore extends KeyedStore<MemberRow> {}

/** Puts a members snapshot (GET /api/orgs/{id}/members) in the store. */
export function applyMembersSnapshot(store: MembersStore, members: MemberRow[]): void {
  store.replaceAll(members, (m) => m.userId);
}

/**
 * The one reducer for the organization's members, used for events from any source —
 * this tab's own actions included (they come back as events).
 */
export function applyMemberEvent(store: MembersStore, envelope: Envelope<OrgEvent>): void {
  switch (envelope.event) {
    case 'org.member.joined':
    case 'org.member.updated': {
      const { member } = (envelope as Envelope<'org.member.joined' | 'org.member.updated'>).data;
      const previous = store.peek(member.userId);
      store.upsert(member.userId, {
        online: false,
        lastActiveAt: null,
        ...previous,
        ...member,
      });
      return;
    }
    case 'org.member.left':
    case 'org.member.removed': {
      const { userId } = (envelope as Envelope<'org.member.left' | 'org.member.removed'>).data;
      store.remove(userId);
      return;
    }
    case 'org.member.presence': {
      const { userId, online, lastActiveAt } = (envelope as Envelope<'org.member.presence'>).data;
      store.patch(userId, { online, lastActiveAt: lastActiveAt ?? store.peek(userId)?.lastActiveAt ?? null });
      return;
    }
  }
}

export function applyMemberEvents(store: MembersStore, envelopes: Array<Envelope<OrgEvent>>): void {
  for (const envelope of envelopes) applyMemberEvent(store, envelope);
}

/** The members' durable fields keyed by user id, for soak verification (presence is ephemeral). */
export function comparableMembers(rows: MemberRow[]): Record<string, unknown> {
  return Object.fromEntries(rows.map(({ online: _online, lastActiveAt: _lastActiveAt, ...member }) => [member.userId, member]));
}
