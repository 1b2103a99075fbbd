import { ROLES, type OrgRole } from '../../sdk/reducers/members';

/**
 * The server's rules for managing members, mirrored so the page never offers what the
 * server would refuse: Owners and Admins manage members; only an Owner makes, changes or
 * removes an Owner; an organization keeps at least one active Owner.
 */

/** A control to show: enabled, or disabled with the reason the server would give. */
export type Control = { show: false } | { show: true; refused?: string };

export interface MemberControls {
  /** The role select (for the viewer's own row too: an Admin may step down). */
  role: Control;
  /** The roles the select offers. */
  roles: readonly OrgRole[];
  /** Remove, on everyone's row but the viewer's own. */
  remove: Control;
  /** Leave, on the viewer's own row. */
  leave: Control;
}

export const KEEP_AN_OWNER = 'An organization must keep an Owner: make someone else Owner first.';
export const LAST_OWNER_LEAVING = 'You are the last Owner: make someone else Owner before leaving.';
export const ONLY_OWNER_CHANGES_OWNER = 'Only an Owner can change or remove an Owner.';

export const managesMembers = (role: OrgRole | null): boolean => role === 'Owner' || role === 'Admin';

/** The roles `viewer` may give (in an invite or a role change). */
export const assignableRoles = (viewer: OrgRole | null): readonly OrgRole[] =>
  viewer === 'Owner' ? ROLES : managesMembers(viewer) ? ROLES.filter((role) => role !== 'Owner') : [];

/**
 * What `viewer` may do to `target`'s membership. `activeOwners` counts the organization's
 * active Owners, the count the server checks before an Owner stops being one.
 */
export function memberControls(
  viewer: { userId: string; role: OrgRole | null },
  target: { userId: string; role: OrgRole },
  activeOwners: number,
): MemberControls {
  const self = viewer.userId === target.userId;
  const lastOwner = target.role === 'Owner' && activeOwners <= 1;
  const leave: Control = !self ? { show: false } : lastOwner ? { show: true, refused: LAST_OWNER_LEAVING } : { show: true };
  if (!managesMembers(viewer.role)) return { role: { show: false }, roles: [], remove: { show: false }, leave };
  const refused = target.role === 'Owner' && viewer.role !== 'Owner' ? ONLY_OWNER_CHANGES_OWNER : lastOwner ? KEEP_AN_OWNER : undefined;
  return {
    role: { show: true, refused },
    roles: refused ? [target.role] : assignableRoles(viewer.role),
    remove: self ? { show: false } : { show: true, refused },
    leave,
  };
}
