import { useSignal, type ReadonlySignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { errorMessage, toast } from '../../app/toasts';
import type { components } from '../../sdk/api.gen';
import type { Http } from '../../sdk/http';
import { ROLES, type MemberRow, type MembersStore, type OrgRole } from '../../sdk/reducers/members';
import { Avatar } from '../../ui/avatar';
import { RelativeTime } from '../../ui/time';
import type { MembersViewState, SortKey } from './members-view';

/** What every row needs; created once per table so row props stay equal between renders. */
export interface MembersContext {
  orgId: string;
  meId: string;
  store: MembersStore;
  /** The viewer's live role in this org (from the table itself, so a change applies at once). */
  myRole: ReadonlySignal<OrgRole | null>;
  /** False for the organization's last Owner, who cannot leave. */
  mayLeave: ReadonlySignal<boolean>;
  http: Http;
  onRemove(userId: string): void;
  onLeave(): void;
}

const canManage = (role: OrgRole | null) => role === 'Owner' || role === 'Admin';

const COLUMNS: Array<{ key: SortKey; label: string; class?: string }> = [
  { key: 'name', label: 'Name' },
  { key: 'email', label: 'Email', class: 'col-email' },
  { key: 'role', label: 'Role' },
  { key: 'status', label: 'Status' },
  { key: 'online', label: 'Presence' },
  { key: 'lastActive', label: 'Last active' },
];

export function MembersTable({ ids, view, ctx }: { ids: ReadonlySignal<readonly string[]>; view: MembersViewState; ctx: MembersContext }) {
  return (
    <table class="table members-table" data-testid="members-table">
      <thead>
        <tr>
          {COLUMNS.map((column) => (
            <SortHeader key={column.key} column={column} view={view} />
          ))}
          <th class="col-actions">
            <span class="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <MembersBody ids={ids} ctx={ctx} />
    </table>
  );
}

function SortHeader({ column, view }: { column: { key: SortKey; label: string; class?: string }; view: MembersViewState }) {
  const active = view.sort.value === column.key;
  const dir = view.dir.value;
  return (
    <th class={column.class} aria-sort={active ? (dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button
        type="button"
        class={`sort${active ? ' sort-active' : ''}`}
        data-testid={`sort-${column.key}`}
        onClick={() => {
          if (active) view.dir.value = dir === 'asc' ? 'desc' : 'asc';
          else {
            view.sort.value = column.key;
            view.dir.value = 'asc';
          }
        }}
      >
        {column.label}
        <span class="sort-arrow" aria-hidden="true">
          {active ? (dir === 'asc' ? '↑' : '↓') : ''}
        </span>
      </button>
    </th>
  );
}

/** Re-renders only when the visible order changes; each row then updates by itself. */
function MembersBody({ ids, ctx }: { ids: ReadonlySignal<readonly string[]>; ctx: MembersContext }) {
  const list = ids.value;
  return (
    <tbody>
      {list.map((id) => (
        <MemberRow key={id} id={id} ctx={ctx} />
      ))}
      {list.length === 0 && ctx.store.loaded.value && (
        <tr>
          <td colSpan={COLUMNS.length + 1} class="empty" data-testid="members-empty">
            No members match.
          </td>
        </tr>
      )}
    </tbody>
  );
}

/** One member; reads only its own row signal, so a change to another row never renders it. */
export function MemberRowView({ id, ctx }: { id: string; ctx: MembersContext }) {
  const row = ctx.store.get(id)?.value;
  if (!row) return null;
  const isMe = row.userId === ctx.meId;
  const myRole = ctx.myRole.value;
  const mayRemove = canManage(myRole) && !isMe && (myRole === 'Owner' || row.role !== 'Owner');
  return (
    <tr data-testid={`member-row-${id}`} class={isMe ? 'is-me' : undefined}>
      <td class="cell-name">
        <Avatar name={row.name} url={row.avatarUrl} seed={row.userId} size={26} />
        <span class="name" data-testid={`member-name-${id}`}>
          {row.name}
        </span>
        {isMe && <span class="you">you</span>}
      </td>
      <td class="col-email muted">{row.email}</td>
      <td data-testid={`member-role-${id}`} data-role={row.role}>
        <RoleCell row={row} ctx={ctx} />
      </td>
      <td>
        <span class={`status status-${row.status}`} data-testid={`member-status-${id}`}>
          {row.status === 'invited' ? 'Invited' : 'Active'}
        </span>
      </td>
      <td>
        <span class="presence">
          <span class="presence-dot" data-testid={`presence-${id}`} data-online={String(row.online)} aria-hidden="true" />
          {row.online ? 'Online' : 'Offline'}
        </span>
      </td>
      <td data-testid={`member-last-active-${id}`}>{row.online ? 'Now' : <RelativeTime iso={row.lastActiveAt} />}</td>
      <td class="cell-actions">
        {mayRemove && (
          <button type="button" class="button button-ghost button-small button-danger" data-testid={`remove-${id}`} onClick={() => ctx.onRemove(id)}>
            Remove
          </button>
        )}
        {isMe && ctx.mayLeave.value && (
          <button type="button" class="button button-ghost button-small" data-testid="leave-org" onClick={ctx.onLeave}>
            Leave
          </button>
        )}
      </td>
    </tr>
  );
}

// No memo needed: @preact/signals skips re-rendering a signal-reading component whose
// props are unchanged, so a re-ordered body re-renders no row (members-table.test.tsx).
const MemberRow = MemberRowView;

/**
 * The role, editable inline by Owners and Admins. The select shows the chosen role
 * while the change is in flight; the table itself changes when the server's
 * org.member.updated event comes back, through the same reducer as everyone else's.
 */
function RoleCell({ row, ctx }: { row: MemberRow; ctx: MembersContext }) {
  const pending = useSignal<OrgRole | null>(null);
  useEffect(() => {
    if (pending.peek() === row.role) pending.value = null;
  }, [row.role]);
  const myRole = ctx.myRole.value;
  const editable = canManage(myRole) && (myRole === 'Owner' || row.role !== 'Owner');
  if (!editable) return <span class={`role role-${row.role.toLowerCase()}`}>{row.role}</span>;
  const options = myRole === 'Owner' ? ROLES : ROLES.filter((r) => r !== 'Owner');
  return (
    <select
      class="role-select"
      aria-label={`Role of ${row.name}`}
      data-testid={`role-select-${row.userId}`}
      value={pending.value ?? row.role}
      disabled={pending.value !== null}
      onChange={async (e) => {
        const role = e.currentTarget.value as OrgRole;
        if (role === row.role) return;
        pending.value = role;
        try {
          const body = { role } satisfies components['schemas']['RoleIn'];
          await ctx.http.patch(`/api/orgs/${encodeURIComponent(ctx.orgId)}/members/${encodeURIComponent(row.userId)}`, body);
          // Normally the event has landed by now; never leave the select stuck.
          setTimeout(() => {
            if (pending.peek() === role) pending.value = null;
          }, 8_000);
        } catch (err) {
          pending.value = null;
          toast(errorMessage(err));
        }
      }}
    >
      {options.map((role) => (
        <option key={role} value={role}>
          {role}
        </option>
      ))}
    </select>
  );
}
