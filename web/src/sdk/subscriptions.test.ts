import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ClientOptions, TandemClient } from './client';
import { prefetchMembers, watchMembers } from './domains/org';
import type { AnyEnvelope } from './envelope';
import { FakeServer, member } from './testing/fake-server';
import { clientFor } from './testing/client';

const ORG = 'org_1';
const ROOM = `org:${ORG}`;

let client: TandemClient | null = null;
afterEach(() => {
  client?.stop();
  client = null;
});

function setup(configure: (server: FakeServer) => void = () => undefined, options: ClientOptions = {}) {
  const server = new FakeServer();
  server.addOrg(ORG, [member('u_me', { role: 'Owner' }), member('u_bob'), member('u_cat')]);
  configure(server);
  client = clientFor(server, options);
  return { server, client };
}

/** A reader that records what it applies, with a snapshot cursor we choose. */
function recorder(client: TandemClient, room: string, cursor: () => number) {
  const applied: AnyEnvelope[] = [];
  const loads: number[] = [];
  const errors: string[] = [];
  const subscription = client.subscribe(room, {
    load: async () => {
      const c = cursor();
      loads.push(c);
      return c;
    },
    apply: (events) => applied.push(...events),
    onError: (e) => errors.push(e.code),
  });
  return { applied, loads, errors, subscription, seqs: () => applied.map((e) => e.seq) };
}

describe('subscriptions', () => {
  it('replays events after the snapshot cursor before live ones, and drops duplicates', async () => {
    const { server, client } = setup();
    client.start('u_me');
    for (const name of ['B1', 'B2', 'B3']) server.updateMember(ORG, 'u_bob', { name });
    const reader = recorder(client, ROOM, () => 1);
    await vi.waitFor(() => expect(server.subscribes).toEqual([{ room: ROOM, after: 1 }]));
    await vi.waitFor(() => expect(reader.seqs()).toEqual([2, 3]));
    server.updateMember(ORG, 'u_bob', { name: 'B4' });
    await vi.waitFor(() => expect(reader.seqs()).toEqual([2, 3, 4]));
    // The same event again (e.g. from a poll racing the socket) is dropped.
    const [socket] = server.sockets;
    socket.push('org.member.updated', server.log[2]);
    await new Promise((r) => setTimeout(r, 30));
    expect(reader.seqs()).toEqual([2, 3, 4]);
    expect(client.subscriptions.stats.duplicates).toBe(1);
    // Only the live event is a latency sample; replayed ones would skew it.
    expect(client.latency.buffered).toBe(1);
  });

  it('feeds the shared members reducer and store', async () => {
    const { server, client } = setup();
    client.start('u_me');
    const { store, subscription } = watchMembers(client, ORG);
    await subscription.ready;
    expect(store.ids.value).toEqual(['u_me', 'u_bob', 'u_cat']);
    await vi.waitFor(() => expect(server.subscribes.length).toBe(1));
    server.updateMember(ORG, 'u_bob', { role: 'Admin' });
    server.setPresence(ORG, 'u_cat', true);
    server.removeMember(ORG, 'u_me');
    await vi.waitFor(() => expect(store.peek('u_bob')?.role).toBe('Admin'));
    await vi.waitFor(() => expect(store.peek('u_cat')?.online).toBe(true));
    await vi.waitFor(() => expect(store.has('u_me')).toBe(false));
  });

  it('takes a prefetched snapshot as its first, then loads its own after joining', async () => {
    const { server, client } = setup();
    const prefetched = prefetchMembers(client.http, ORG);
    await prefetched;
    expect(server.snapshotLoads).toBe(1);
    server.updateMember(ORG, 'u_bob', { name: 'Robert' }); // after the prefetch: replayed from its cursor
    client.start('u_me');
    const { store, subscription } = watchMembers(client, ORG, undefined, undefined, prefetched);
    await subscription.ready;
    expect(server.snapshotLoads).toBe(1);
    expect(server.subscribes).toEqual([]);
    await vi.waitFor(() => expect(server.subscribes).toEqual([{ room: ROOM, after: 0 }]));
    await vi.waitFor(() => expect(store.peek('u_bob')?.name).toBe('Robert'));
    await vi.waitFor(() => expect(server.snapshotLoads).toBe(2)); // the post-join presence refresh, as always
    expect(subscription.status.value).toBe('ready');
  });

  it('asks for its own snapshot when the prefetch failed', async () => {
    const { server, client } = setup();
    server.stop();
    const prefetched = prefetchMembers(client.http, ORG);
    await expect(prefetched).rejects.toMatchObject({ code: 'network' });
    server.start();
    client.start('u_me');
    const { store, subscription } = watchMembers(client, ORG, undefined, undefined, prefetched);
    await subscription.ready;
    expect(store.ids.value).toEqual(['u_me', 'u_bob', 'u_cat']);
    expect(subscription.status.value).toBe('ready');
  });

  it('answers resync.required with exactly one snapshot reload, then resumes from its cursor', async () => {
    const { server, client } = setup();
    client.start('u_me');
    const { store, subscription } = watchMembers(client, ORG);
    await subscription.ready;
    await vi.waitFor(() => expect(server.snapshotLoads).toBe(2)); // the post-join presence refresh
    // Changes the client will only learn through the reload.
    server.members.get(ORG)!.get('u_cat')!.name = 'Catherine';
    server.seq += 5;
    server.sendResync(ROOM);
    await vi.waitFor(() => expect(store.peek('u_cat')?.name).toBe('Catherine'));
    expect(subscription.lastSeq()).toBe(5);
    // Still joined: live events keep coming without a second subscribe.
    server.updateMember(ORG, 'u_bob', { name: 'After' });
    await vi.waitFor(() => expect(store.peek('u_bob')?.name).toBe('After'));
    expect(server.subscribes).toHaveLength(1);
    expect(server.snapshotLoads).toBe(3);
  });

  it('reloads a snapshot with presence after every (re)join: presence is never replayed', async () => {
    const { server, client } = setup();
    client.start('u_me');
    const { store, subscription } = watchMembers(client, ORG);
    await subscription.ready;
    await vi.waitFor(() => expect(server.snapshotLoads).toBe(2));
    server.stop();
    await vi.waitFor(() => expect(client.connection.state.value).not.toBe('live'));
    // Cat came online while we were away; nobody will tell us by event.
    server.members.get(ORG)!.get('u_cat')!.online = true;
    server.start();
    await vi.waitFor(() => expect(store.peek('u_cat')?.online).toBe(true));
    expect(server.snapshotLoads).toBe(3);
  });

  it('coalesces resyncs that arrive while a reload is running into that one reload', async () => {
    const { server, client } = setup();
    client.start('u_me');
    let release = () => {};
    let loads = 0;
    client.subscribe(ROOM, {
      load: async () => {
        loads += 1;
        if (loads > 1) await new Promise<void>((r) => (release = r));
        return 0;
      },
      apply: () => undefined,
    });
    await vi.waitFor(() => expect(server.subscribes.length).toBe(1));
    server.sendResync(ROOM);
    server.sendResync(ROOM);
    server.sendResync(ROOM);
    await new Promise((r) => setTimeout(r, 30));
    release();
    await new Promise((r) => setTimeout(r, 30));
    expect(loads).toBe(2);
  });

  it('gets resync.required when its after is older than the log, and reloads', async () => {
    const { server, client } = setup((s) => (s.prunedThrough = 10));
    client.start('u_me');
    let loads = 0;
    const reader = recorder(client, ROOM, () => (loads++ === 0 ? 2 : 12));
    await vi.waitFor(() => expect(reader.loads).toEqual([2, 12]));
    expect(server.subscribes).toEqual([{ room: ROOM, after: 2 }]);
    server.seq = 12;
    server.updateMember(ORG, 'u_bob', { name: 'Live' });
    await vi.waitFor(() => expect(reader.seqs()).toEqual([13]));
  });

  it('re-subscribes with the last seq after a reconnect and gets what it missed', async () => {
    const { server, client } = setup();
    client.start('u_me');
    const reader = recorder(client, ROOM, () => 0);
    await vi.waitFor(() => expect(server.subscribes.length).toBe(1));
    server.updateMember(ORG, 'u_bob', { name: 'B1' });
    server.updateMember(ORG, 'u_bob', { name: 'B2' });
    await vi.waitFor(() => expect(reader.seqs()).toEqual([1, 2]));

    server.stop();
    await vi.waitFor(() => expect(client.connection.state.value).not.toBe('live'));
    // Committed while the client was away.
    server.up = true;
    server.blockWebsocket = true;
    server.updateMember(ORG, 'u_bob', { name: 'B3' });
    server.blockWebsocket = false;

    await vi.waitFor(() => expect(client.connection.state.value).toBe('live'));
    await vi.waitFor(() => expect(server.subscribes.at(-1)).toEqual({ room: ROOM, after: 2 }));
    await vi.waitFor(() => expect(reader.seqs()).toEqual([1, 2, 3]));
    server.updateMember(ORG, 'u_bob', { name: 'B4' });
    await vi.waitFor(() => expect(reader.seqs()).toEqual([1, 2, 3, 4]));
  });

  it('does not apply an unknown major version: it refreshes the snapshot instead', async () => {
    const { server, client } = setup();
    client.start('u_me');
    const { store, subscription } = watchMembers(client, ORG);
    await subscription.ready;
    await vi.waitFor(() => expect(server.snapshotLoads).toBe(2));
    // A v2 event whose payload this client cannot read; the REST snapshot has the truth.
    server.members.get(ORG)!.get('u_bob')!.role = 'Admin';
    server.emit(ROOM, 'org.member.updated', { organizationId: ORG, member: { userId: 'u_bob', fullName: 'Robert' } }, 2);
    await vi.waitFor(() => expect(server.snapshotLoads).toBe(3));
    expect(store.peek('u_bob')).toMatchObject({ role: 'Admin', name: 'Bob' });
    expect(client.subscriptions.stats.gated).toBe(1);
    // A minor bump is compatible and applied.
    server.updateMember(ORG, 'u_bob', { name: 'Robert' }, 1.2);
    await vi.waitFor(() => expect(store.peek('u_bob')?.name).toBe('Robert'));
    expect(server.snapshotLoads).toBe(3);
  });

  it('falls back to long-polling when the socket cannot connect, and back when it can', async () => {
    const { server, client } = setup((s) => (s.blockWebsocket = true));
    client.start('u_me');
    const reader = recorder(client, ROOM, () => 0);
    await vi.waitFor(() => expect(client.connection.state.value).toBe('offline-polling'));
    await vi.waitFor(() => expect(server.count('GET /api/events')).toBeGreaterThan(0));
    server.updateMember(ORG, 'u_bob', { name: 'Polled' });
    await vi.waitFor(() => expect(reader.seqs()).toEqual([1]));
    expect(server.subscribes).toEqual([]);

    server.blockWebsocket = false;
    await vi.waitFor(() => expect(client.connection.state.value).toBe('live'));
    await vi.waitFor(() => expect(server.subscribes).toEqual([{ room: ROOM, after: 1 }]));
    await new Promise((r) => setTimeout(r, 150));
    const polls = server.count('GET /api/events');
    server.updateMember(ORG, 'u_bob', { name: 'Live' });
    await vi.waitFor(() => expect(reader.seqs()).toEqual([1, 2]));
    await new Promise((r) => setTimeout(r, 150));
    expect(server.count('GET /api/events')).toBe(polls);
  });

  it('polls while the phase flag is off even with a live socket, and stops when it is back on', async () => {
    const { server, client } = setup((s) => s.flags.set(ORG, { members: false }), { flagsIntervalMs: 40 });
    client.start('u_me');
    const { store, subscription } = watchMembers(client, ORG);
    await subscription.ready;
    await vi.waitFor(() => expect(client.connection.state.value).toBe('live'));
    await vi.waitFor(() => expect(server.count('GET /api/events')).toBeGreaterThan(0));
    server.log.push({ ...server.emit('org:none', 'org.member.updated', {})[0], room: ROOM, data: { organizationId: ORG, member: { ...member('u_bob'), name: 'Flagged' } } });
    await vi.waitFor(() => expect(store.peek('u_bob')?.name).toBe('Flagged'));

    server.flags.set(ORG, { members: true });
    await new Promise((r) => setTimeout(r, 200));
    const polls = server.count('GET /api/events');
    await new Promise((r) => setTimeout(r, 200));
    expect(server.count('GET /api/events')).toBe(polls);
  });

  it('reports a forbidden room to its reader', async () => {
    const { server, client } = setup((s) => s.forbidden.add('org:org_x'));
    client.start('u_me');
    const reader = recorder(client, 'org:org_x', () => 0);
    await vi.waitFor(() => expect(reader.errors).toEqual(['forbidden']));
    expect(reader.subscription.status.value).toBe('error');
    void server;
  });

  it('reports an eviction to its reader and stays out of the room', async () => {
    const { server, client } = setup();
    client.start('u_me');
    const reader = recorder(client, ROOM, () => 0);
    await vi.waitFor(() => expect(server.subscribes.length).toBe(1));
    const global: string[] = [];
    client.errors.on((e) => global.push(e.source));
    const quiet = client.subscribe(ROOM, { load: async () => 0, apply: () => {} }); // no onError
    await quiet.ready;
    server.evict(ROOM);
    await vi.waitFor(() => expect(reader.errors).toEqual(['forbidden']));
    await vi.waitFor(() => expect(quiet.status.value).toBe('error'));
    expect(global).toEqual([]); // no toast: the person hears of their removal by its own event
    expect(reader.subscription.status.value).toBe('error');
    server.dropSockets();
    await vi.waitFor(() => expect(client.connection.state.value).toBe('live'));
    await new Promise((r) => setTimeout(r, 100));
    expect(server.subscribes).toHaveLength(1);
  });

  it('hears events of the implicit user room', async () => {
    const { server, client } = setup();
    const heard: string[] = [];
    client.onEvent((e) => heard.push(`${e.room} ${e.event}`));
    client.start('u_me');
    await vi.waitFor(() => expect(client.connection.state.value).toBe('live'));
    server.removeMember(ORG, 'u_me');
    await vi.waitFor(() => expect(heard).toEqual(['user:u_me org.member.removed']));
  });

  it('applies a burst of events in one batched update', async () => {
    const { server, client } = setup();
    client.start('u_me');
    const batches: number[] = [];
    client.subscribe(ROOM, { load: async () => 0, apply: (events) => batches.push(events.length) });
    for (let i = 0; i < 50; i++) server.updateMember(ORG, 'u_bob', { name: `B${i}` });
    await vi.waitFor(() => expect(batches.reduce((a, b) => a + b, 0)).toBe(50));
    expect(batches.length).toBeLessThanOrEqual(2);
  });
});
