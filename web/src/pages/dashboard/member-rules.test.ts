import { describe, expect, it } from 'vitest';
import { KEEP_AN_OWNER, LAST_OWNER_LEAVING, ONLY_OWNER_CHANGES_OWNER, assignableRoles, memberControls } from './member-rules';

const ada = { userId: 'u_ada', role: 'Owner' as const };
const grace = { userId: 'u_grace', role: 'Admin' as const };
const alan = { userId: 'u_alan', role: 'Member' as const };
const guest = { userId: 'u_guest', role: 'Guest' as const };

describe('memberControls', () => {
  it('offers the only Owner no way to demote or remove herself, and says why', () => {
    const own = memberControls(ada, ada, 1);
    expect(own.role).toEqual({ show: true, refused: KEEP_AN_OWNER });
    expect(own.roles).toEqual(['Owner']);
    expect(own.remove).toEqual({ show: false });
    expect(own.leave).toEqual({ show: true, refused: LAST_OWNER_LEAVING });
  });

  it('lets an Owner step down or leave once there is another Owner', () => {
    const own = memberControls(ada, ada, 2);
    expect(own.role).toEqual({ show: true, refused: undefined });
    expect(own.roles).toEqual(['Owner', 'Admin', 'Member', 'Guest']);
    expect(own.leave).toEqual({ show: true });
  });

  it('lets an Owner manage everyone else, Owners included', () => {
    expect(memberControls(ada, alan, 1)).toEqual({
      role: { show: true, refused: undefined },
      roles: ['Owner', 'Admin', 'Member', 'Guest'],
      remove: { show: true, refused: undefined },
      leave: { show: false },
    });
    const otherOwner = { userId: 'u_k', role: 'Owner' as const };
    expect(memberControls(ada, otherOwner, 2).remove).toEqual({ show: true, refused: undefined });
  });

  it('lets an Admin manage Members and Guests, never making an Owner', () => {
    const controls = memberControls(grace, alan, 1);
    expect(controls.role).toEqual({ show: true, refused: undefined });
    expect(controls.roles).toEqual(['Admin', 'Member', 'Guest']);
    expect(controls.remove).toEqual({ show: true, refused: undefined });
  });

  it('shows an Admin an Owner row disabled, with the reason', () => {
    const controls = memberControls(grace, ada, 3);
    expect(controls.role).toEqual({ show: true, refused: ONLY_OWNER_CHANGES_OWNER });
    expect(controls.roles).toEqual(['Owner']);
    expect(controls.remove).toEqual({ show: true, refused: ONLY_OWNER_CHANGES_OWNER });
  });

  it('gives Members and Guests no controls but Leave on their own row', () => {
    for (const viewer of [alan, guest]) {
      expect(memberControls(viewer, grace, 1)).toEqual({ role: { show: false }, roles: [], remove: { show: false }, leave: { show: false } });
      expect(memberControls(viewer, viewer, 1).leave).toEqual({ show: true });
      expect(memberControls(viewer, viewer, 1).role).toEqual({ show: false });
    }
  });
});

describe('assignableRoles', () => {
  it('is every role for an Owner, all but Owner for an Admin, none for the rest', () => {
    expect(assignableRoles('Owner')).toEqual(['Owner', 'Admin', 'Member', 'Guest']);
    expect(assignableRoles('Admin')).toEqual(['Admin', 'Member', 'Guest']);
    expect(assignableRoles('Member')).toEqual([]);
    expect(assignableRoles(null)).toEqual([]);
  });
});
