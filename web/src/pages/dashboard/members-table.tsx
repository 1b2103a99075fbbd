import { useSignal, type ReadonlySignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { errorMessage, toast } from '../../app/toasts';
import { changeRole } from '../../sdk/domains/org';
import type { MemberRow, MembersStore, OrgRole } from '../../sdk/reducers/members';
import type { Rest } from '../../sdk/rest';
import { Avatar } from '../../ui/avatar';
import { RelativeTime } from '../../ui/time';
import { memberControls, type Control, type MemberControls } from './member-rules';
import type { MembersViewState, SortKey } from './members-view';

/** What every row needs; created once per table so row props stay equal between renders. */
export interface MembersContext {
  orgId: string;
  meId: string;
  store: MembersStore;
  /** The viewer's live role in this org (from the table itself, so a change applies at once). */
  myRole: ReadonlySignal<OrgRole | null>;
  /** The organization's active Owners: the last one may not stop being one. */
  activeOwners: ReadonlySignal<number>;
  api: Rest;
  onRemove(userId: string): void;
  onLeave(): void;
}

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
  const controls = memberControls({ userId: ctx.meId, role: ctx.myRole.value }, row, ctx.activeOwners.value);
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
      <td class="cell-role" data-testid={`member-role-${id}`} data-role={row.role}>
        <RoleCell row={row} ctx={ctx} controls={controls} />
      </td>
      <td class="cell-status">
        <span class={`status status-${row.status}`} data-testid={`member-status-${id}`}>
          {row.status === 'invited' ? 'Invited' : 'Active'}
        </span>
      </td>
      <td class="cell-presence">
        <span class="presence">
          <span class="presence-dot" data-testid={`presence-${id}`} data-online={String(row.online)} aria-hidden="true" />
          {row.online ? 'Online' : 'Offline'}
        </span>
      </td>
      <td class="cell-last-active" data-testid={`member-last-active-${id}`}>
        {row.online ? 'Now' : <RelativeTime iso={row.lastActiveAt} />}
      </td>
      <td class="cell-actions">
        <ActionButton control={controls.remove} label="Remove" danger testid={`remove-${id}`} onClick={() => ctx.onRemove(id)} />
        <ActionButton control={controls.leave} label="Leave" testid="leave-org" onClick={ctx.onLeave} />
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
function RoleCell({ row, ctx, controls }: { row: MemberRow; ctx: MembersContext; controls: MemberControls }) {
  const pending = useSignal<OrgRole | null>(null);
  useEffect(() => {
    if (pending.peek() === row.role) pending.value = null;
  }, [row.role, pending]);
  const control = controls.role;
  if (!control.show) return <span class={`role role-${row.role.toLowerCase()}`}>{row.role}</span>;
  return (
    <select
      class="role-select"
      aria-label={`Role of ${row.name}`}
      data-testid={`role-select-${row.userId}`}
      title={control.refused}
      value={pending.value ?? row.role}
      disabled={pending.value !== null || control.refused !== undefined}
      onChange={async (e) => {
        const role = e.currentTarget.value as OrgRole;
        if (role === row.role) return;
        pending.value = role;
        try {
          await changeRole(ctx.api, ctx.orgId, row.userId, role);
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
      {controls.roles.map((role) => (
        <option key={role} value={role}>
          {role}
        </option>
      ))}
    </select>
  );
}

/** A row action: absent when not offered, disabled with the server's reason when it would be refused. */
function ActionButton(props: { control: Control; label: string; testid: string; danger?: boolean; onClick: () => void }) {
  const { control } = props;
  if (!control.show) return null;
  return (
    <button
      type="button"
      class={`button button-ghost button-small${props.danger ? ' button-danger' : ''}`}
      data-testid={props.testid}
      disabled={control.refused !== undefined}
      title={control.refused}
      onClick={props.onClick}
    >
      {props.label}
    </button>
  );
}
