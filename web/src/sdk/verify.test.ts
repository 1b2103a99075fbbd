import { signal } from '@preact/signals';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TandemClient } from './client';
import { watchMembers } from './domains/org';
import type { SubscriptionStatus } from './subscriptions';
import { FakeServer, member } from './testing/fake-server';
import { clientFor } from './testing/client';
import { diffStates, jittered, SoakVerifier, type VerifierDeps, type VerifySource } from './verify';

const ORG = 'org_1';
const ROOM = `org:${ORG}`;

let client: TandemClient | null = null;
afterEach(() => {
  client?.stop();
  client = null;
  vi.useRealTimers();
});

function soakingOrg(state: 'on' | 'soak' = 'soak') {
  const server = new FakeServer();
  server.addOrg(ORG, [member('u_me', { role: 'Owner' }), member('u_bob', { name: 'Bob' }), member('u_cat', { name: 'Cat' })]);
  server.states.set(ORG, { members: state });
  client = clientFor(server, { verifyIntervalMs: 40, verifyWaitMs: 1_000, verifySettleMs: 20, flagsIntervalMs: 30, random: () => 0.5 });
  client.start('u_me');
  const live = watchMembers(client, ORG);
  return { server, client, live };
}

const memberLoads = (server: FakeServer) => server.count(`GET /api/orgs/${ORG}/members`);

/**
 * The room is joined and its snapshot reloaded after the join (members carry presence): an
 * event arriving during that reload would come inside the snapshot instead. Only then does the
 * phase go into soak, and the first verification starts.
 */
async function settledThenSoaking(server: FakeServer, live: ReturnType<typeof watchMembers>) {
  await vi.waitFor(() => expect(server.subscribes).toContainEqual({ room: ROOM, after: 0 }));
  await vi.waitFor(() => expect(memberLoads(server)).toBe(2), { timeout: 10_000 });
  await live.subscription.reload();
  const loads = memberLoads(server);
  server.states.set(ORG, { members: 'soak' });
  await vi.waitFor(() => expect(memberLoads(server)).toBeGreaterThan(loads), { timeout: 10_000 });
}

describe('diffStates', () => {
  it('names each field that differs, by its path', () => {
    const live = { tasks: { t_1: { title: 'Old', rev: 2 }, t_2: { title: 'Same' } }, columns: ['Todo', 'Done'] };
    const fetched = { tasks: { t_1: { title: 'New', rev: 3 }, t_2: { title: 'Same' }, t_3: { title: 'Added' } }, columns: ['Todo', 'Doing'] };
    expect(diffStates(live, fetched)).toEqual(['columns.1', 'tasks.t_1.rev', 'tasks.t_1.title', 'tasks.t_3']);
  });

  it('finds nothing between equal states, and treats a missing key as undefined', () => {
    expect(diffStates({ a: { b: [1, { c: null }] } }, { a: { b: [1, { c: null }] } })).toEqual([]);
    expect(diffStates({ a: 1, b: undefined }, { a: 1 })).toEqual([]);
    expect(diffStates(null, { a: 1 })).toEqual(['(root)']);
  });

  it('stops at the bound', () => {
    const many = (title: string) => ({ tasks: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`t_${i}`, { title }])) });
    expect(diffStates(many('a'), many('b'))).toHaveLength(50);
    expect(diffStates(many('a'), many('b'), 5)).toHaveLength(5);
  });
});

describe('jittered', () => {
  it('stays within ±30 % of the interval', () => {
    expect(jittered(180_000, () => 0)).toBe(126_000);
    expect(jittered(180_000, () => 0.999_999)).toBe(234_000);
    for (let i = 0; i < 1_000; i++) {
      const ms = jittered(180_000);
      expect(ms).toBeGreaterThanOrEqual(126_000);
      expect(ms).toBeLessThanOrEqual(234_000);
    }
  });
});

// Timers of tens of ms against a fake server: generous bounds for a loaded CI machine.
describe('soak verification of a live room', { timeout: 30_000 }, () => {
  it('repairs a dropped update from the snapshot and reports what drifted', async () => {
    const { server, client, live } = soakingOrg('on');
    await settledThenSoaking(server, live);
    client.soak.debug.dropNext('org.member.updated');
    server.updateMember(ORG, 'u_bob', { name: 'Robert' });
    // The report proves the rename was lost here: a verification found the old name.
    await vi.waitFor(() => expect(server.driftReports).toHaveLength(1), { timeout: 10_000 });
    expect(live.store.peek('u_bob')?.name).toBe('Robert');
    expect(server.driftReports[0]).toEqual({
      orgId: ORG,
      body: { phase: 'members', room: ROOM, eventTypes: ['org.member.updated'], fields: ['u_bob.name'], traceIds: ['tr_1'], seq: 1 },
    });
    // Repaired: later rounds find nothing more to report.
    const loads = memberLoads(server);
    await vi.waitFor(() => expect(memberLoads(server)).toBeGreaterThan(loads + 2), { timeout: 10_000 });
    expect(server.driftReports).toHaveLength(1);
  });

  it('reports nothing while the live state matches the snapshots', async () => {
    const { server, live } = soakingOrg();
    await live.subscription.ready;
    server.updateMember(ORG, 'u_cat', { role: 'Admin' });
    await vi.waitFor(() => expect(live.store.peek('u_cat')?.role).toBe('Admin'));
    await vi.waitFor(() => expect(memberLoads(server)).toBeGreaterThan(4), { timeout: 10_000 });
    expect(server.driftReports).toEqual([]);
  });

  it('sets no timer and fetches nothing extra unless the phase soaks, and stops when it ends', async () => {
    const { server, live } = soakingOrg('on');
    await vi.waitFor(() => expect(memberLoads(server)).toBe(2), { timeout: 10_000 });
    await live.subscription.reload();
    const first = memberLoads(server);
    await vi.waitFor(() => expect(server.count(`GET /api/orgs/${ORG}/flags`)).toBeGreaterThan(5));
    expect(memberLoads(server)).toBe(first);

    server.states.set(ORG, { members: 'soak' });
    await vi.waitFor(() => expect(memberLoads(server)).toBeGreaterThan(first + 1), { timeout: 10_000 });
    server.states.set(ORG, { members: 'on' });
    const flagReads = server.count(`GET /api/orgs/${ORG}/flags`);
    await vi.waitFor(() => expect(server.count(`GET /api/orgs/${ORG}/flags`)).toBeGreaterThan(flagReads + 2));
    const loads = memberLoads(server);
    await vi.waitFor(() => expect(server.count(`GET /api/orgs/${ORG}/flags`)).toBeGreaterThan(flagReads + 6));
    expect(memberLoads(server)).toBe(loads);
  });

  it('holds its reports while the server says to wait', async () => {
    const { server, client, live } = soakingOrg('on');
    await settledThenSoaking(server, live);
    server.driftRetryAfter = 600;
    client.soak.debug.dropNext('org.member.updated', 2);
    server.updateMember(ORG, 'u_bob', { name: 'Robert' });
    await vi.waitFor(() => expect(live.store.peek('u_bob')?.name).toBe('Robert'), { timeout: 10_000 });
    await vi.waitFor(() => expect(server.count(`POST /api/orgs/${ORG}/realtime/drift`)).toBe(1), { timeout: 10_000 });
    server.driftRetryAfter = null;
    server.updateMember(ORG, 'u_bob', { name: 'Bobby' });
    await vi.waitFor(() => expect(live.store.peek('u_bob')?.name).toBe('Bobby'), { timeout: 10_000 });
    expect(server.driftReports).toEqual([]);
    expect(server.count(`POST /api/orgs/${ORG}/realtime/drift`)).toBe(1);
  });
});

/** A verifier over a hand-driven room: its seq, the server log's seqs, and a snapshot to return. */
function handRoom(options: { live: number; cursor: number; logged?: number[]; liveState?: unknown; fetchedState?: unknown }) {
  let seq = options.live;
  const status = signal<SubscriptionStatus>('ready');
  const repairs: unknown[] = [];
  const reports: unknown[] = [];
  let liveState: unknown = options.liveState ?? { a: 1 };
  const source: VerifySource = {
    fetch: async () => ({ cursor: options.cursor, state: options.fetchedState ?? { a: 1 }, repair: () => repairs.push((liveState = options.fetchedState)) }),
    current: () => liveState,
  };
  const deps: VerifierDeps = {
    intervalMs: 1_000,
    random: () => 0.5,
    visible: () => true,
    polling: () => false,
    flush: () => undefined,
    roomSeqsAfter: async (_room, after) => (options.logged ?? []).filter((s) => s > after),
    report: async (_org, body) => void reports.push(body),
    waitMs: 150,
    settleMs: 0,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
  const verifier = new SoakVerifier('project:p_1', { orgId: ORG, phase: 'kanban' }, { status, lastSeq: () => seq }, source, deps);
  return { verifier, repairs, reports, status, deps, advance: (to: number) => (seq = to) };
}

describe('SoakVerifier', () => {
  it('compares at the same cursor, even when the global cursor moved on in other rooms', async () => {
    const room = handRoom({ live: 5, cursor: 9, logged: [3, 5], fetchedState: { a: 2 } });
    expect(await room.verifier.check()).toEqual({ kind: 'drift', seq: 5, fields: ['a'] });
    expect(room.repairs).toEqual([{ a: 2 }]);
    await vi.waitFor(() => expect(room.reports).toHaveLength(1));
    expect(room.reports[0]).toMatchObject({ phase: 'kanban', room: 'project:p_1', fields: ['a'], seq: 5 });
  });

  it('waits briefly for the live seq to reach a newer snapshot', async () => {
    const room = handRoom({ live: 5, cursor: 9, logged: [5, 7] });
    setTimeout(() => room.advance(7), 30);
    expect(await room.verifier.check()).toEqual({ kind: 'same', seq: 7 });
  });

  it('skips the round when the live seq does not catch up, or is past the snapshot', async () => {
    const late = handRoom({ live: 5, cursor: 9, logged: [5, 7], fetchedState: { a: 2 } });
    expect(await late.verifier.check()).toEqual({ kind: 'skipped', reason: 'behind' });
    const ahead = handRoom({ live: 12, cursor: 9, fetchedState: { a: 2 } });
    expect(await ahead.verifier.check()).toEqual({ kind: 'skipped', reason: 'behind' });
    const movedOn = handRoom({ live: 5, cursor: 9, logged: [5, 11], fetchedState: { a: 2 } });
    expect(await movedOn.verifier.check()).toEqual({ kind: 'skipped', reason: 'moved-on' });
    for (const room of [late, ahead, movedOn]) expect(room.repairs).toEqual([]);
  });

  it('never verifies a room that is loading, hidden or polled', async () => {
    const loading = handRoom({ live: 5, cursor: 5, fetchedState: { a: 2 } });
    loading.status.value = 'loading';
    expect(await loading.verifier.check()).toEqual({ kind: 'skipped', reason: 'not-ready' });
    const hidden = handRoom({ live: 5, cursor: 5, fetchedState: { a: 2 } });
    hidden.deps.visible = () => false;
    expect(await hidden.verifier.check()).toEqual({ kind: 'skipped', reason: 'hidden' });
    const polled = handRoom({ live: 5, cursor: 5, fetchedState: { a: 2 } });
    polled.deps.polling = () => true;
    expect(await polled.verifier.check()).toEqual({ kind: 'skipped', reason: 'polling' });
  });

  it('bounds the trace ids and event types it keeps for a report', async () => {
    const room = handRoom({ live: 5, cursor: 5, fetchedState: { a: 2 } });
    const envelopes = Array.from({ length: 80 }, (_, i) => ({ event: `e.${i % 60}`, meta: { traceId: `tr_${i}` } }));
    room.verifier.note([{ event: 'before.soak', meta: { traceId: 'tr_before' } }]); // not soaking: kept nowhere
    room.verifier.start();
    room.verifier.note(envelopes);
    await room.verifier.check();
    room.verifier.stop();
    await vi.waitFor(() => expect(room.reports).toHaveLength(1));
    const report = room.reports[0] as { traceIds: string[]; eventTypes: string[] };
    expect(report.traceIds).toHaveLength(50);
    expect(report.traceIds.at(-1)).toBe('tr_79');
    expect(report.eventTypes).toHaveLength(50);
    expect(report.eventTypes).not.toContain('before.soak');
  });

  it('runs its timer only between start and stop', () => {
    vi.useFakeTimers();
    const room = handRoom({ live: 5, cursor: 5 });
    expect(vi.getTimerCount()).toBe(0);
    room.verifier.start();
    expect(vi.getTimerCount()).toBe(1);
    room.verifier.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
