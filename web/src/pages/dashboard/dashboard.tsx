import { useComputed, useSignal, useSignalEffect } from '@preact/signals';
import { useEffect, useMemo } from 'preact/hooks';
import { queryParam, setQuery } from '../../app/router';
import { checkAccess, client, createOrg, currentMembership, currentOrgId, lostOrg, me, takePrefetchedMembers } from '../../app/session';
import { errorMessage, toast } from '../../app/toasts';
import { leave, removeMember, watchMembers, type LiveMembers } from '../../sdk/domains/org';
import { ROLES, type OrgRole } from '../../sdk/reducers/members';
import { Dialog } from '../../ui/dialog';
import { InviteDialog } from './invite-dialog';
import { managesMembers } from './member-rules';
import { MetricsSection, type MetricsContext } from './metrics-section';
import { MembersTable, type MembersContext } from './members-table';
import { viewState, visibleIds } from './members-view';

export function DashboardPage() {
  const current = me.value;
  const orgId = currentOrgId.value;
  if (!current) return null;
  if (!orgId) return <NoOrganization />;
  return (
    <main class="page">
      <div class="page-header">
        <h1 data-testid="org-name">{currentMembership.value?.orgName ?? 'Dashboard'}</h1>
      </div>
      <OrgDashboard key={orgId} orgId={orgId} meId={current.user.id} />
    </main>
  );
}

/** One organization's dashboard: its metrics, charts and activity over the live members table. */
function OrgDashboard({ orgId, meId }: { orgId: string; meId: string }) {
  const live = useMemo(
    () =>
      watchMembers(
        client,
        orgId,
        (error) => {
          if (error.code === 'forbidden' || error.code === 'not_found' || error.code === 'http_404') void checkAccess(orgId);
          else toast(error.message);
        },
        undefined,
        takePrefetchedMembers(orgId),
      ),
    [orgId],
  );
  useEffect(() => () => live.subscription.close(), [live]);
  // My role as the live table says (a demotion to Guest narrows what the dashboard may show).
  const mine = live.store.ids.value.includes(meId) ? live.store.get(meId)?.value : undefined;
  const guest = (mine?.role ?? currentMembership.value?.role) === 'Guest';
  const metrics = useMemo<MetricsContext>(
    () => ({
      orgId,
      meId,
      guest,
      // Read through the row's signal: a chart drawn before the members arrived redraws with names.
      nameOf: (userId) => {
        if (!userId || !live.store.ids.value.includes(userId)) return 'Someone';
        return live.store.get(userId)?.value.name ?? 'Someone';
      },
    }),
    [orgId, meId, guest, live],
  );
  return (
    <>
      <MetricsSection key={String(guest)} ctx={metrics} />
      <MembersSection orgId={orgId} meId={meId} live={live} />
    </>
  );
}

function MembersSection({ orgId, meId, live }: { orgId: string; meId: string; live: LiveMembers }) {
  const view = useMemo(
    () => viewState({ sort: queryParam('sort'), dir: queryParam('dir'), query: queryParam('q'), role: queryParam('role') }),
    [],
  );
  // Sort and filter live in the URL: they survive a reload and can be shared.
  useSignalEffect(() => {
    setQuery({
      sort: view.sort.value === 'name' ? null : view.sort.value,
      dir: view.dir.value === 'asc' ? null : view.dir.value,
      q: view.query.value || null,
      role: view.role.value || null,
    });
  });
  const ids = useMemo(() => visibleIds(live.store, view), [live, view]);
  const activeOwners = useComputed(() => live.store.values().filter((row) => row.role === 'Owner' && row.status === 'active').length);
  const myRole = useComputed<OrgRole | null>(() => {
    // Until my own row arrives, the role /api/me reported.
    const mine = live.store.ids.value.includes(meId) ? live.store.get(meId)?.value : undefined;
    return mine?.role ?? currentMembership.value?.role ?? null;
  });
  const removing = useSignal<string | null>(null);
  const leaving = useSignal(false);
  const inviting = useSignal(false);
  const ctx = useMemo<MembersContext>(
    () => ({
      orgId,
      meId,
      store: live.store,
      myRole,
      activeOwners,
      api: client.api,
      onRemove: (userId) => (removing.value = userId),
      onLeave: () => (leaving.value = true),
    }),
    [orgId, meId, live, myRole, activeOwners, removing, leaving],
  );

  const orgName = currentMembership.value?.orgName ?? 'this organization';
  const total = live.store.ids.value.length;
  const shown = ids.value.length;
  const role = myRole.value;
  const status = live.subscription.status.value;

  return (
    <section class="card" aria-labelledby="members-heading">
      <div class="card-header">
        <h2 id="members-heading">Members</h2>
        <span class="count" data-testid="members-count">
          {shown === total ? `${total}` : `${shown} of ${total}`}
        </span>
        <span class="spacer" />
        <input
          type="search"
          class="filter"
          placeholder="Filter by name or email"
          aria-label="Filter members"
          value={view.query.value}
          onInput={(e) => (view.query.value = e.currentTarget.value)}
          data-testid="members-filter"
        />
        <select
          class="filter-role"
          aria-label="Filter by role"
          value={view.role.value}
          onChange={(e) => (view.role.value = e.currentTarget.value as OrgRole | '')}
          data-testid="members-role-filter"
        >
          <option value="">All roles</option>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
        {managesMembers(role) && (
          <button type="button" class="button button-primary" onClick={() => (inviting.value = true)} data-testid="invite-button">
            Invite
          </button>
        )}
      </div>
      {!live.store.loaded.value ? (
        <p class="loading" data-testid="members-loading">
          {status === 'error' ? 'The members could not be loaded.' : 'Loading members…'}
        </p>
      ) : (
        <div class="table-scroll">
          <MembersTable ids={ids} view={view} ctx={ctx} />
        </div>
      )}
      {inviting.value && <InviteDialog orgId={orgId} orgName={orgName} myRole={role} onClose={() => (inviting.value = false)} />}
      {removing.value && (
        <ConfirmRemove
          name={live.store.peek(removing.value)?.name ?? 'this person'}
          orgName={orgName}
          onCancel={() => (removing.value = null)}
          onConfirm={async () => {
            const userId = removing.value!;
            await removeMember(client.api, orgId, userId);
            removing.value = null;
          }}
        />
      )}
      {leaving.value && (
        <Confirm
          title={`Leave ${orgName}?`}
          body="You lose access to its members, projects and conversations until someone invites you again."
          action="Leave"
          testid="confirm-leave"
          onCancel={() => (leaving.value = false)}
          onConfirm={async () => {
            await leave(client.api, orgId);
            leaving.value = false;
            await lostOrg(orgId, 'left');
          }}
        />
      )}
    </section>
  );
}

function ConfirmRemove({ name, orgName, onCancel, onConfirm }: { name: string; orgName: string; onCancel: () => void; onConfirm: () => Promise<void> }) {
  return (
    <Confirm
      title={`Remove ${name}?`}
      body={`${name} loses access to ${orgName} right away. You can invite them again later.`}
      action="Remove"
      testid="confirm-remove"
      onCancel={onCancel}
      onConfirm={onConfirm}
    />
  );
}

function Confirm(props: { title: string; body: string; action: string; testid: string; onCancel: () => void; onConfirm: () => Promise<void> }) {
  const busy = useSignal(false);
  return (
    <Dialog title={props.title} onClose={props.onCancel} testid={props.testid}>
      <p>{props.body}</p>
      <div class="actions">
        <button type="button" class="button button-ghost" onClick={props.onCancel}>
          Cancel
        </button>
        <button
          type="button"
          class="button button-danger-solid"
          disabled={busy.value}
          data-testid={`${props.testid}-ok`}
          onClick={async () => {
            busy.value = true;
            try {
              await props.onConfirm();
            } catch (err) {
              toast(errorMessage(err));
              props.onCancel();
            } finally {
              busy.value = false;
            }
          }}
        >
          {props.action}
        </button>
      </div>
    </Dialog>
  );
}

function NoOrganization() {
  const name = useSignal('');
  const busy = useSignal(false);
  return (
    <main class="page">
      <section class="card empty-state" data-testid="no-org">
        <h1>You are not in an organization</h1>
        <p class="muted">Create one and invite your team, or open an invite link someone sent you.</p>
        <form
          class="row"
          onSubmit={async (e) => {
            e.preventDefault();
            busy.value = true;
            try {
              await createOrg(name.value.trim());
            } catch (err) {
              toast(errorMessage(err));
            } finally {
              busy.value = false;
            }
          }}
        >
          <input required maxLength={100} placeholder="Organization name" value={name.value} onInput={(e) => (name.value = e.currentTarget.value)} data-testid="create-org-name" />
          <button type="submit" class="button button-primary" disabled={busy.value} data-testid="create-org-submit">
            Create organization
          </button>
        </form>
      </section>
    </main>
  );
}
