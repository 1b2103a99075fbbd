import { effect } from '@preact/signals';
import { describe, expect, it } from 'vitest';
import type { AnyEnvelope } from './envelope';
import { applyMemberEvents, MembersStore, type MemberRow } from './reducers/members';
import { EventBatcher, KeyedStore } from './store';
import { member } from './testing/fake-server';

function updated(seq: number, row: Partial<MemberRow> & { userId: string }): AnyEnvelope {
  const { online: _online, lastActiveAt: _last, ...contract } = { ...member(row.userId), ...row };
  return {
    event: 'org.member.updated',
    version: 1,
    seq,
    room: 'org:o',
    data: { organizationId: 'o', member: contract },
    meta: { emittedAt: '', producer: 'server', traceId: '', actorId: null },
  } as unknown as AnyEnvelope;
}

describe('KeyedStore', () => {
  it('notifies only the row that changed', () => {
    const store = new KeyedStore<{ id: string; n: number }>();
    store.replaceAll([{ id: 'a', n: 1 }, { id: 'b', n: 1 }], (x) => x.id);
    const runs = { a: 0, b: 0, ids: 0 };
    effect(() => void (store.get('a')!.value, runs.a++));
    effect(() => void (store.get('b')!.value, runs.b++));
    effect(() => void (store.ids.value, runs.ids++));
    store.patch('b', { n: 2 });
    store.patch('a', { n: 1 }); // no change
    expect(runs).toEqual({ a: 1, b: 2, ids: 1 });
  });

  it('applies a snapshot by diffing: unchanged rows keep their signal untouched', () => {
    const store = new KeyedStore<{ id: string; n: number }>();
    store.replaceAll([{ id: 'a', n: 1 }, { id: 'b', n: 1 }, { id: 'c', n: 1 }], (x) => x.id);
    let aRuns = 0;
    effect(() => void (store.get('a')!.value, aRuns++));
    store.replaceAll([{ id: 'a', n: 1 }, { id: 'c', n: 5 }, { id: 'd', n: 1 }], (x) => x.id);
    expect(aRuns).toBe(1);
    expect(store.ids.value).toEqual(['a', 'c', 'd']);
    expect(store.peek('c')?.n).toBe(5);
    expect(store.has('b')).toBe(false);
  });
});

describe('EventBatcher', () => {
  it('applies a burst of events as one update: each view recomputes once', () => {
    let scheduled: (() => void) | null = null;
    const batcher = new EventBatcher((flush) => (scheduled = flush));
    const store = new MembersStore();
    store.replaceAll([member('u_a'), member('u_b')], (m) => m.userId);
    let bobRuns = 0;
    let listRuns = 0;
    effect(() => void (store.get('u_b')!.value, bobRuns++));
    effect(() => void (store.values(), listRuns++));
    const target = { applyBatch: (events: AnyEnvelope[]) => applyMemberEvents(store, events as never) };
    for (let i = 0; i < 100; i++) batcher.push(target, updated(i + 1, { userId: 'u_b', name: `Bob ${i}` }));
    expect(store.peek('u_b')?.name).toBe('B');
    scheduled!();
    expect(store.peek('u_b')?.name).toBe('Bob 99');
    expect(bobRuns).toBe(2);
    expect(listRuns).toBe(2);
  });

  it('flushes early when a burst is very large', () => {
    const batches: number[] = [];
    const batcher = new EventBatcher(() => undefined, 10);
    const target = { applyBatch: (events: AnyEnvelope[]) => batches.push(events.length) };
    for (let i = 0; i < 25; i++) batcher.push(target, updated(i + 1, { userId: 'u_b' }));
    expect(batches).toEqual([10, 10]);
  });
});

describe('members reducer', () => {
  it('keeps presence across a profile update and ignores presence for unknown people', () => {
    const store = new MembersStore();
    store.replaceAll([member('u_a', { online: true, lastActiveAt: '2026-01-01T00:00:00.000Z' })], (m) => m.userId);
    applyMemberEvents(store, [updated(1, { userId: 'u_a', role: 'Admin' })] as never);
    expect(store.peek('u_a')).toMatchObject({ role: 'Admin', online: true, lastActiveAt: '2026-01-01T00:00:00.000Z' });
    applyMemberEvents(store, [
      { event: 'org.member.presence', room: 'org:o', version: 1, data: { organizationId: 'o', userId: 'u_zz', online: true, lastActiveAt: null }, meta: {} },
      { event: 'org.member.joined', room: 'org:o', version: 1, seq: 2, data: { organizationId: 'o', member: { userId: 'u_new', name: 'N', email: 'n@x', role: 'Guest', status: 'active', avatarUrl: null } }, meta: {} },
    ] as never);
    expect(store.ids.value).toEqual(['u_a', 'u_new']);
    expect(store.peek('u_new')).toMatchObject({ online: false, lastActiveAt: null });
  });
});
