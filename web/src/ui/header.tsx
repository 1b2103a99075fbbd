import { useSignal } from '@preact/signals';
import { unreadTotal } from '../app/inbox';
import { Link, location, navigate } from '../app/router';
import { client, createOrg, currentMembership, currentOrgId, logout, me, selectOrg } from '../app/session';
import { managesRollout } from '../pages/settings/realtime-view';
import { errorMessage, toast } from '../app/toasts';
import { Avatar } from './avatar';
import { ConnectionIndicator } from './connection-indicator';
import { Dialog } from './dialog';

const NEW_ORG = '__new__';
const ROLLOUT = '__rollout__';

export function Header() {
  const current = me.value;
  const creating = useSignal(false);
  if (!current) return null;
  const path = location.value.path;
  const owner = managesRollout(currentMembership.value?.role);
  return (
    <header class="topbar">
      <Link href="/dashboard" class="brand">
        <span class="brand-mark" aria-hidden="true" />
        Tandem
      </Link>
      <select
        class="org-switcher"
        data-testid="org-switcher"
        aria-label="Organization"
        value={currentOrgId.value ?? ''}
        onChange={(e) => {
          const value = e.currentTarget.value;
          if (value === NEW_ORG) {
            creating.value = true;
            e.currentTarget.value = currentOrgId.peek() ?? '';
          } else if (value === ROLLOUT) {
            e.currentTarget.value = currentOrgId.peek() ?? '';
            navigate('/settings/realtime');
          } else selectOrg(value || null);
        }}
      >
        {current.memberships.length === 0 && <option value="">No organization</option>}
        {current.memberships.map((m) => (
          <option key={m.orgId} value={m.orgId}>
            {m.orgName}
          </option>
        ))}
        <option value={NEW_ORG}>+ New organization…</option>
        {owner && (
          <option value={ROLLOUT} data-testid="org-menu-realtime">
            Real-time rollout…
          </option>
        )}
      </select>
      <nav class="nav">
        <Link href="/dashboard" current={path === '/dashboard'} testid="nav-dashboard">
          Dashboard
        </Link>
        <Link href="/projects" current={path.startsWith('/projects')} testid="nav-projects">
          Projects
        </Link>
        <Link href="/messages" current={path.startsWith('/messages')} testid="nav-messages">
          Messages
          {unreadTotal.value > 0 && (
            <span class="nav-badge" data-testid="nav-messages-unread" aria-label={`${unreadTotal.value} unread`}>
              {unreadTotal.value}
            </span>
          )}
        </Link>
        {owner && (
          <Link href="/settings/realtime" current={path.startsWith('/settings')} testid="nav-realtime" class="nav-wide">
            Rollout
          </Link>
        )}
      </nav>
      <span class="spacer" />
      <ConnectionIndicator state={client.connection.state} />
      <span class="user" data-testid="current-user" title={current.user.email}>
        <Avatar name={current.user.name} url={current.user.avatarUrl} seed={current.user.id} size={22} />
        <span class="user-name">{current.user.name}</span>
      </span>
      <button type="button" class="button button-ghost" data-testid="logout" onClick={() => void logout()}>
        Log out
      </button>
      {creating.value && <NewOrgDialog onClose={() => (creating.value = false)} />}
    </header>
  );
}

export function NewOrgDialog({ onClose }: { onClose: () => void }) {
  const name = useSignal('');
  const busy = useSignal(false);
  return (
    <Dialog title="New organization" onClose={onClose} testid="new-org-dialog">
      <form
        class="stack"
        onSubmit={async (e) => {
          e.preventDefault();
          busy.value = true;
          try {
            await createOrg(name.value);
            onClose();
          } catch (err) {
            toast(errorMessage(err));
          } finally {
            busy.value = false;
          }
        }}
      >
        <label class="field">
          <span>Name</span>
          <input required maxLength={100} autoFocus value={name.value} onInput={(e) => (name.value = e.currentTarget.value)} data-testid="new-org-name" />
        </label>
        <div class="actions">
          <button type="button" class="button button-ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={busy.value} data-testid="new-org-submit">
            Create
          </button>
        </div>
      </form>
    </Dialog>
  );
}
