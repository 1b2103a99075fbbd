import { effect } from '@preact/signals';
import { describe, expect, it } from 'vitest';
import { MembersStore } from '../../sdk/reducers/members';
import { member } from '../../sdk/testing/fake-server';
import { viewState, visibleIds } from './members-view';

function store() {
  const s = new MembersStore();
  s.replaceAll(
    [
      member('u_ann', { name: 'Ann', role: 'Admin', online: true }),
      member('u_bob', { name: 'Bob', role: 'Member', lastActiveAt: '2026-01-01T10:00:00.000Z' }),
      member('u_cy', { name: 'Cy', role: 'Owner', lastActiveAt: '2026-01-02T10:00:00.000Z' }),
      member('u_dee', { name: 'Dee', role: 'Member', email: 'dee@corp.io' }),
    ],
    (m) => m.userId,
  );
  return s;
}

describe('members view', () => {
  it('sorts by each column in both directions', () => {
    const s = store();
    const view = viewState();
    const ids = visibleIds(s, view);
    expect(ids.value).toEqual(['u_ann', 'u_bob', 'u_cy', 'u_dee']);
    view.sort.value = 'role';
    expect(ids.value).toEqual(['u_cy', 'u_ann', 'u_bob', 'u_dee']);
    view.dir.value = 'desc';
    expect(ids.value).toEqual(['u_bob', 'u_dee', 'u_ann', 'u_cy']); // ties stay by name
    view.dir.value = 'asc';
    view.sort.value = 'lastActive';
    expect(ids.value).toEqual(['u_ann', 'u_cy', 'u_bob', 'u_dee']);
  });

  it('filters by text and role, and keeps sort and filter through live updates', () => {
    const s = store();
    const view = viewState({ sort: 'name', dir: 'desc', role: 'Member' });
    const ids = visibleIds(s, view);
    expect(ids.value).toEqual(['u_dee', 'u_bob']);
    view.query.value = 'CORP';
    expect(ids.value).toEqual(['u_dee']);
    view.query.value = '';
    s.patch('u_ann', { role: 'Member' }); // a live role change brings Ann into the filter
    expect(ids.value).toEqual(['u_dee', 'u_bob', 'u_ann']);
    s.patch('u_bob', { role: 'Guest' }); // and one takes Bob out
    expect(ids.value).toEqual(['u_dee', 'u_ann']);
    expect(view.sort.value).toBe('name');
    expect(view.role.value).toBe('Member');
  });

  it('hands back the same array when an update does not change the order', () => {
    const s = store();
    const ids = visibleIds(s, viewState());
    let runs = 0;
    effect(() => void (ids.value, runs++));
    s.patch('u_bob', { online: true });
    s.patch('u_bob', { email: 'robert@example.com' });
    expect(runs).toBe(1);
    s.patch('u_bob', { name: 'Zed' });
    expect(runs).toBe(2);
  });

  it('ignores unknown sort keys and roles from the URL', () => {
    const view = viewState({ sort: 'password', dir: 'sideways', role: 'King' });
    expect([view.sort.value, view.dir.value, view.role.value]).toEqual(['name', 'asc', '']);
  });
});
