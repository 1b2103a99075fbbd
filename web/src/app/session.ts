import { computed, effect, signal } from '@preact/signals';
import type { components } from '../sdk/api.gen';
import { TandemClient, type ClientOptions } from '../sdk/client';
import * as auth from '../sdk/domains/auth';
import * as org from '../sdk/domains/org';
import { prefetchMembers, type MembersSnapshot } from '../sdk/domains/org';
import { ApiError } from '../sdk/errors';
import { location, navigate } from './router';
import { toast } from './toasts';

type Schemas = components['schemas'];
export type User = Schemas['UserOut'];
export type Membership = Schemas['MeMembership'];
export type Me = Schemas['MeOut'];

/**
 * Settings for browser tests and for checking a soak by hand, read once at start:
 * `tandem.debug.verifyIntervalMs` shortens the soak verification interval.
 */
function debugOptions(): ClientOptions {
  const intervalMs = Number(localStorage.getItem('tandem.debug.verifyIntervalMs'));
  return Number.isFinite(intervalMs) && intervalMs > 0 ? { verifyIntervalMs: intervalMs } : {};
}

/** The one SDK client of the page. */
export const client = new TandemClient({ onUnauthenticated: () => signedOut(), ...debugOptions() });

/** `__tandemDebug.dropNext('kanban.task.updated')`: this tab discards the next such event (see DebugSwitches). */
(window as unknown as { __tandemDebug: unknown }).__tandemDebug = {
  dropNext: (event: string, count?: number) => client.soak.debug.dropNext(event, count),
  pendingDrops: () => client.soak.debug.pending(),
};

export const me = signal<Me | null>(null);
/** True until we know whether the stored tokens still sign someone in. */
export const booting = signal(true);

const ORG_KEY = 'tandem.orgId';
export const currentOrgId = signal<string | null>(localStorage.getItem(ORG_KEY));
export const currentMembership = computed(
  () => me.value?.memberships.find((m) => m.orgId === currentOrgId.value) ?? null,
);

// Latency samples count toward the organization of the page they were taken on.
effect(() => {
  client.latency.orgId = currentOrgId.value;
});

export function selectOrg(orgId: string | null): void {
  currentOrgId.value = orgId;
  if (orgId) localStorage.setItem(ORG_KEY, orgId);
  else localStorage.removeItem(ORG_KEY);
}

export async function refreshMe(): Promise<Me> {
  const res = await auth.me(client.api);
  me.value = res;
  const ids = res.memberships.map((m) => m.orgId);
  const current = currentOrgId.peek();
  if (!current || !ids.includes(current)) selectOrg(ids[0] ?? null);
  client.start(res.user.id);
  return res;
}

/** The stored org's members snapshot, requested by `boot` beside /api/me (the dashboard needs both). */
let prefetched: { orgId: string; snapshot: Promise<MembersSnapshot> } | null = null;

/** The members snapshot `boot` prefetched for this org, once; later watchers load their own. */
export function takePrefetchedMembers(orgId: string): Promise<MembersSnapshot> | undefined {
  const taken = prefetched;
  prefetched = null;
  return taken?.orgId === orgId ? taken.snapshot : undefined;
}

export async function boot(): Promise<void> {
  client.errors.on((error) => toast(error.message));
  client.onEvent(onOwnEvent);
  // Another tab signed in or out: follow it.
  window.addEventListener('storage', (e) => {
    if (e.key !== 'tandem.accessToken') return;
    client.tokens.reload();
    if (!client.tokens.access && me.peek()) signedOut();
  });
  if (client.tokens.access) {
    // A cold dashboard (`/` leads there too) would otherwise wait for /api/me before asking for the members.
    const orgId = currentOrgId.peek();
    const toDashboard = ['/', '/dashboard'].includes(location.peek().path);
    if (orgId && toDashboard) prefetched = { orgId, snapshot: prefetchMembers(client.http, orgId) };
    try {
      await refreshMe();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) toast('Tandem cannot reach the server. Retrying…', 'info');
      if (client.tokens.access) setTimeout(() => void boot_retry(), 3_000);
    }
  }
  booting.value = false;
}

async function boot_retry(): Promise<void> {
  try {
    await refreshMe();
  } catch {
    if (client.tokens.access) setTimeout(() => void boot_retry(), 5_000);
  }
}

export async function login(email: string, password: string): Promise<void> {
  client.tokens.set(await auth.login(client.api, email, password));
  await refreshMe();
}

export async function signup(name: string, email: string, password: string): Promise<void> {
  client.tokens.set(await auth.signup(client.api, name, email, password));
  await refreshMe();
}

export async function logout(): Promise<void> {
  const refreshToken = client.tokens.refresh;
  client.stop();
  if (refreshToken) await auth.logout(client.api, refreshToken).catch(() => undefined);
  signedOut();
}

function signedOut(): void {
  client.stop();
  client.tokens.clear();
  me.value = null;
  const here = location.peek();
  if (!['/login', '/signup'].includes(here.path) && !here.path.startsWith('/invite/')) {
    navigate(`/login?next=${encodeURIComponent(here.path + here.search)}`, { replace: true });
  }
}

export async function createOrg(name: string): Promise<void> {
  const created = await org.createOrg(client.api, name);
  await refreshMe();
  selectOrg(created.id);
}

/**
 * This person lost an organization (removed by an admin, left from another tab, or the
 * room refused them): say so once, and move them to an organization they still have.
 */
export async function lostOrg(orgId: string, reason: 'removed' | 'left'): Promise<void> {
  const current = me.peek();
  const membership = current?.memberships.find((m) => m.orgId === orgId);
  if (!current || !membership) return;
  me.value = { ...current, memberships: current.memberships.filter((m) => m.orgId !== orgId) };
  toast(reason === 'removed' ? `You were removed from ${membership.orgName}.` : `You left ${membership.orgName}.`, 'info', 10_000);
  if (currentOrgId.peek() === orgId) {
    selectOrg(me.peek()!.memberships[0]?.orgId ?? null);
    navigate('/dashboard', { replace: true });
  }
  await refreshMe().catch(() => undefined);
}

/** A room of this org refused us: check whether we are still a member. */
export async function checkAccess(orgId: string): Promise<void> {
  const before = me.peek()?.memberships.find((m) => m.orgId === orgId);
  const fresh = await refreshMe().catch(() => null);
  if (before && fresh && !fresh.memberships.some((m) => m.orgId === orgId)) {
    // Not told by an event (we were offline, or it was missed): say it now.
    toast(`You were removed from ${before.orgName}.`, 'info', 10_000);
    navigate('/dashboard', { replace: true });
  }
}

function onOwnEvent(envelope: Parameters<Parameters<TandemClient['onEvent']>[0]>[0]): void {
  const current = me.peek();
  if (!current) return;
  const mine = current.user.id;
  switch (envelope.event) {
    case 'org.member.removed':
      if (envelope.data.userId === mine) void lostOrg(envelope.data.organizationId, 'removed');
      return;
    case 'org.member.left':
      if (envelope.data.userId === mine) void lostOrg(envelope.data.organizationId, 'left');
      return;
    case 'org.member.updated': {
      const { member, organizationId } = envelope.data;
      if (member.userId !== mine) return;
      me.value = {
        user: { ...current.user, name: member.name, avatarUrl: member.avatarUrl },
        memberships: current.memberships.map((m) => (m.orgId === organizationId ? { ...m, role: member.role } : m)),
      };
      return;
    }
  }
}
