import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { Link, navigate } from '../app/router';
import { client, logout, me, refreshMe, selectOrg } from '../app/session';
import { errorMessage, toast } from '../app/toasts';
import type { components } from '../sdk/api.gen';
import { acceptInvite, inviteInfo } from '../sdk/domains/auth';
import { AuthLayout } from './auth-layout';

type InviteInfo = components['schemas']['InviteInfo'];

export function InvitePage({ token }: { token: string }) {
  const invite = useSignal<InviteInfo | null>(null);
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);

  useEffect(() => {
    inviteInfo(client.api, token)
      .then((info) => (invite.value = info))
      .catch((err) => (error.value = errorMessage(err)));
  }, [token, invite, error]);

  if (error.value && !invite.value) {
    return (
      <AuthLayout title="Invite not found">
        <p class="form-error" data-testid="invite-error">
          {error.value}
        </p>
        <Link href="/dashboard" class="button button-ghost">
          Go to Tandem
        </Link>
      </AuthLayout>
    );
  }
  const info = invite.value;
  if (!info) return <AuthLayout title="Opening invite…">{null}</AuthLayout>;

  const here = `/invite/${encodeURIComponent(token)}`;
  const query = `?next=${encodeURIComponent(here)}&email=${encodeURIComponent(info.email)}`;
  const user = me.value?.user;
  const alreadyMember = me.value?.memberships.some((m) => m.orgId === info.orgId);
  const emailMatches = user && user.email.toLowerCase() === info.email.toLowerCase();

  const accept = async () => {
    busy.value = true;
    try {
      const membership = await acceptInvite(client.api, token);
      await refreshMe();
      selectOrg(membership.orgId);
      toast(`Welcome to ${membership.orgName}.`, 'success');
      navigate('/dashboard', { replace: true });
    } catch (err) {
      error.value = errorMessage(err);
    } finally {
      busy.value = false;
    }
  };

  return (
    <AuthLayout
      title={`Join ${info.orgName}`}
      subtitle={
        <>
          You are invited to <strong data-testid="invite-org">{info.orgName}</strong> as{' '}
          <strong data-testid="invite-role">{info.role}</strong>. The invite is for <strong>{info.email}</strong>.
        </>
      }
    >
      {error.value && (
        <p class="form-error" role="alert" data-testid="invite-error">
          {error.value}
        </p>
      )}
      {!user && (
        <div class="stack">
          <Link href={`/login${query}`} class="button button-primary button-block" testid="invite-login">
            Log in to accept
          </Link>
          <Link href={`/signup${query}`} class="button button-ghost button-block" testid="invite-signup">
            Create an account
          </Link>
        </div>
      )}
      {user && alreadyMember && (
        <div class="stack">
          <p class="muted">You are already a member of {info.orgName}.</p>
          <button
            type="button"
            class="button button-primary button-block"
            onClick={() => {
              selectOrg(info.orgId);
              navigate('/dashboard');
            }}
          >
            Open {info.orgName}
          </button>
        </div>
      )}
      {user && !alreadyMember && emailMatches && (
        <button type="button" class="button button-primary button-block" disabled={busy.value} onClick={accept} data-testid="invite-accept">
          {busy.value ? 'Joining…' : `Accept and join ${info.orgName}`}
        </button>
      )}
      {user && !alreadyMember && !emailMatches && (
        <div class="stack">
          <p class="muted">
            You are logged in as {user.email}. Log in as {info.email} to accept this invite.
          </p>
          <button
            type="button"
            class="button button-ghost button-block"
            onClick={async () => {
              await logout();
              navigate(`/login${query}`, { replace: true });
            }}
          >
            Log out and switch account
          </button>
        </div>
      )}
    </AuthLayout>
  );
}
