import { useSignal } from '@preact/signals';
import { useCallback, useEffect, useRef } from 'preact/hooks';
import { client } from '../../app/session';
import { errorMessage, toast } from '../../app/toasts';
import type { components } from '../../sdk/api.gen';
import { invite, pendingInvites } from '../../sdk/domains/org';
import type { OrgRole } from '../../sdk/reducers/members';
import { Dialog } from '../../ui/dialog';
import { assignableRoles } from './member-rules';

type Invite = components['schemas']['InviteOut'];

export const inviteLink = (token: string) => `${window.location.origin}/invite/${token}`;

export function InviteDialog({ orgId, orgName, myRole, onClose }: { orgId: string; orgName: string; myRole: OrgRole | null; onClose: () => void }) {
  const email = useSignal('');
  const role = useSignal<OrgRole>('Member');
  const busy = useSignal(false);
  const created = useSignal<Invite | null>(null);
  const pending = useSignal<Invite[]>([]);

  const loadPending = useCallback(
    () =>
      pendingInvites(client.api, orgId)
        .then((invites) => (pending.value = invites))
        .catch(() => undefined),
    [orgId, pending],
  );
  useEffect(() => void loadPending(), [loadPending]);

  const roles = assignableRoles(myRole);
  return (
    <Dialog title={`Invite to ${orgName}`} onClose={onClose} testid="invite-dialog">
      {created.value ? (
        <div class="stack">
          <p>
            Send this link to <strong>{created.value.email}</strong>. It makes them a {created.value.role} of {orgName} once they sign in with that
            email.
          </p>
          <CopyField value={inviteLink(created.value.token)} testid="invite-link" />
          <div class="actions">
            <button type="button" class="button button-ghost" onClick={() => (created.value = null)} data-testid="invite-another">
              Invite another
            </button>
            <button type="button" class="button button-primary" onClick={onClose}>
              Done
            </button>
          </div>
        </div>
      ) : (
        <form
          class="stack"
          onSubmit={async (e) => {
            e.preventDefault();
            busy.value = true;
            try {
              created.value = await invite(client.api, orgId, email.value.trim(), role.value);
              email.value = '';
              void loadPending();
            } catch (err) {
              toast(errorMessage(err));
            } finally {
              busy.value = false;
            }
          }}
        >
          <div class="row">
            <label class="field grow">
              <span>Email</span>
              <input type="email" required autoFocus value={email.value} onInput={(e) => (email.value = e.currentTarget.value)} data-testid="invite-email" />
            </label>
            <label class="field">
              <span>Role</span>
              <select value={role.value} onChange={(e) => (role.value = e.currentTarget.value as OrgRole)} data-testid="invite-role">
                {roles.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <div class="actions">
            <button type="button" class="button button-ghost" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" class="button button-primary" disabled={busy.value} data-testid="invite-submit">
              {busy.value ? 'Creating…' : 'Create invite link'}
            </button>
          </div>
        </form>
      )}
      {pending.value.length > 0 && (
        <section class="pending-invites">
          <h3>Pending invites</h3>
          <ul>
            {pending.value.map((invite) => (
              <li key={invite.token}>
                <span>
                  {invite.email} <span class="muted">· {invite.role}</span>
                </span>
                <CopyButton value={inviteLink(invite.token)} label="Copy link" />
              </li>
            ))}
          </ul>
        </section>
      )}
    </Dialog>
  );
}

async function copy(value: string, input?: HTMLInputElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(value);
    return true;
  } catch {
    // No clipboard API (plain http on a LAN address): select and copy the old way.
    if (!input) return false;
    input.select();
    return document.execCommand?.('copy') ?? false;
  }
}

function CopyField({ value, testid }: { value: string; testid: string }) {
  const ref = useRef<HTMLInputElement>(null);
  const copied = useSignal(false);
  return (
    <div class="copy-field">
      <input ref={ref} readOnly value={value} data-testid={testid} onFocus={(e) => e.currentTarget.select()} />
      <button
        type="button"
        class="button button-primary"
        data-testid={`${testid}-copy`}
        onClick={async () => {
          copied.value = await copy(value, ref.current);
          if (!copied.value) toast('Copy the link by hand: your browser blocked the clipboard.', 'info');
          setTimeout(() => (copied.value = false), 2_000);
        }}
      >
        {copied.value ? 'Copied' : 'Copy link'}
      </button>
    </div>
  );
}

function CopyButton({ value, label }: { value: string; label: string }) {
  const copied = useSignal(false);
  return (
    <button
      type="button"
      class="button button-ghost button-small"
      onClick={async () => {
        copied.value = await copy(value);
        if (!copied.value) toast(value, 'info', 15_000);
        setTimeout(() => (copied.value = false), 2_000);
      }}
    >
      {copied.value ? 'Copied' : label}
    </button>
  );
}
