import { computed, signal, type ReadonlySignal, type Signal } from '@preact/signals';
import { ROLES, type MemberRow, type MembersStore, type OrgRole } from '../../sdk/reducers/members';

export type SortKey = 'name' | 'email' | 'role' | 'status' | 'online' | 'lastActive';
export type SortDir = 'asc' | 'desc';

export const SORT_KEYS: readonly SortKey[] = ['name', 'email', 'role', 'status', 'online', 'lastActive'];

const ROLE_RANK: Record<string, number> = Object.fromEntries(ROLES.map((role, rank) => [role, rank]));

export interface MembersViewState {
  sort: Signal<SortKey>;
  dir: Signal<SortDir>;
  query: Signal<string>;
  role: Signal<OrgRole | ''>;
}

export function viewState(initial: Partial<{ sort: string | null; dir: string | null; query: string | null; role: string | null }> = {}): MembersViewState {
  const sort = SORT_KEYS.includes(initial.sort as SortKey) ? (initial.sort as SortKey) : 'name';
  const role = initial.role && initial.role in ROLE_RANK ? (initial.role as OrgRole) : '';
  return {
    sort: signal(sort),
    dir: signal(initial.dir === 'desc' ? 'desc' : 'asc'),
    query: signal(initial.query ?? ''),
    role: signal(role),
  };
}

function compare(key: SortKey, a: MemberRow, b: MemberRow): number {
  switch (key) {
    case 'name':
      return a.name.localeCompare(b.name, undefined, { sensitivity: 'base' });
    case 'email':
      return a.email.localeCompare(b.email);
    case 'role':
      return (ROLE_RANK[a.role] ?? 9) - (ROLE_RANK[b.role] ?? 9);
    case 'status':
      return a.status.localeCompare(b.status);
    case 'online':
      return Number(b.online) - Number(a.online);
    case 'lastActive': {
      // Online now counts as the most recent activity.
      const ta = a.online ? Infinity : a.lastActiveAt ? Date.parse(a.lastActiveAt) : -Infinity;
      const tb = b.online ? Infinity : b.lastActiveAt ? Date.parse(b.lastActiveAt) : -Infinity;
      return ta === tb ? 0 : ta > tb ? -1 : 1;
    }
  }
}

export function matches(row: MemberRow, query: string, role: OrgRole | ''): boolean {
  if (role && row.role !== role) return false;
  if (!query) return true;
  return row.name.toLowerCase().includes(query) || row.email.toLowerCase().includes(query);
}

/**
 * The ids to show, filtered and sorted. It recomputes whenever a row changes (a live
 * update may move a row or filter it out), but hands back the very same array when the
 * order did not change, so the table body does not re-render for an in-place update.
 */
export function visibleIds(store: MembersStore, view: MembersViewState): ReadonlySignal<readonly string[]> {
  let previous: readonly string[] = [];
  return computed(() => {
    const query = view.query.value.trim().toLowerCase();
    const role = view.role.value;
    const key = view.sort.value;
    const sign = view.dir.value === 'asc' ? 1 : -1;
    const rows = store.values().filter((row) => matches(row, query, role));
    rows.sort((a, b) => sign * compare(key, a, b) || a.name.localeCompare(b.name) || a.userId.localeCompare(b.userId));
    const ids = rows.map((row) => row.userId);
    if (ids.length === previous.length && ids.every((id, i) => id === previous[i])) return previous;
    previous = ids;
    return ids;
  });
}
