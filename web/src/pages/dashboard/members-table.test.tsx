// @vitest-environment happy-dom
import { computed } from '@preact/signals';
import { options, render, type VNode } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Rest } from '../../sdk/rest';
import { MembersStore } from '../../sdk/reducers/members';
import { member } from '../../sdk/testing/fake-server';
import { MembersTable, MemberRowView, type MembersContext } from './members-table';
import { viewState, visibleIds } from './members-view';

// Preact's internal render hook (mangled name of options._render): counts row renders.
type Hooked = typeof options & { __r?: (vnode: VNode) => void };
const hooked = options as Hooked;
let previousHook: Hooked['__r'];
const renders = new Map<string, number>();

beforeEach(() => {
  previousHook = hooked.__r;
  renders.clear();
  hooked.__r = (vnode) => {
    if (vnode.type === MemberRowView) {
      const id = (vnode.props as unknown as { id: string }).id;
      renders.set(id, (renders.get(id) ?? 0) + 1);
    }
    previousHook?.(vnode);
  };
});

afterEach(() => {
  hooked.__r = previousHook;
  document.body.innerHTML = '';
});

function mount(role: 'Owner' | 'Member' = 'Owner') {
  const store = new MembersStore();
  store.replaceAll(
    Array.from({ length: 20 }, (_, i) => member(`u_${String(i).padStart(2, '0')}`, { name: `Person ${String(i).padStart(2, '0')}` })),
    (m) => m.userId,
  );
  store.patch('u_00', { role });
  const view = viewState();
  const ids = visibleIds(store, view);
  const ctx: MembersContext = {
    orgId: 'org_1',
    meId: 'u_00',
    store,
    myRole: computed(() => store.get('u_00')!.value.role),
    activeOwners: computed(() => 1),
    api: {} as Rest,
    onRemove: () => undefined,
    onLeave: () => undefined,
  };
  const root = document.createElement('div');
  document.body.appendChild(root);
  render(<MembersTable ids={ids} view={view} ctx={ctx} />, root);
  return { store, view, root };
}

const flush = () => new Promise((r) => setTimeout(r, 0));
const total = () => [...renders.values()].reduce((a, b) => a + b, 0);

describe('members table', () => {
  it('renders a row per member with the test hooks browser tests use', () => {
    const { root } = mount();
    expect(root.querySelectorAll('[data-testid^="member-row-"]')).toHaveLength(20);
    expect(root.querySelector('[data-testid="member-role-u_05"]')?.getAttribute('data-role')).toBe('Member');
    expect(root.querySelector('[data-testid="presence-u_05"]')?.getAttribute('data-online')).toBe('false');
    expect(root.querySelector('[data-testid="role-select-u_05"]')).not.toBeNull();
    expect(root.querySelector('[data-testid="remove-u_05"]')).not.toBeNull();
  });

  it('re-renders only the row that changed', async () => {
    const { store, root } = mount();
    await flush();
    renders.clear();
    store.patch('u_07', { online: true, lastActiveAt: new Date().toISOString() });
    await flush();
    expect([...renders.entries()]).toEqual([['u_07', 1]]);
    expect(root.querySelector('[data-testid="presence-u_07"]')?.getAttribute('data-online')).toBe('true');
  });

  it('keeps other rows untouched when a live change moves a row in the sort order', async () => {
    const { store, view, root } = mount();
    view.sort.value = 'role';
    await flush();
    renders.clear();
    store.patch('u_12', { role: 'Admin' });
    await flush();
    expect([...renders.entries()]).toEqual([['u_12', 1]]);
    const order = [...root.querySelectorAll('[data-testid^="member-row-"]')].map((tr) => tr.getAttribute('data-testid'));
    expect(order.slice(0, 2)).toEqual(['member-row-u_00', 'member-row-u_12']);
  });

  it('shows read-only roles and no remove buttons to a plain member', async () => {
    const { root } = mount('Member');
    await flush();
    expect(root.querySelector('[data-testid="role-select-u_05"]')).toBeNull();
    expect(root.querySelector('[data-testid="remove-u_05"]')).toBeNull();
    expect(root.querySelector('[data-testid="leave-org"]')).not.toBeNull();
    expect(total()).toBeGreaterThan(0);
  });
});
