import { afterEach, describe, expect, it, vi } from 'vitest';
import { HeldHint, HintStore } from './hints';

afterEach(() => vi.useRealTimers());

describe('lock and typing hints', () => {
  it('shows another person’s hint and drops it by itself when it is not refreshed', () => {
    vi.useFakeTimers();
    const store = new HintStore('u_me');
    store.receive('t_1', 'u_grace', true, 5_000, 'title');
    expect(store.of('t_1').value).toEqual({ userId: 'u_grace', field: 'title' });
    vi.advanceTimersByTime(4_000);
    store.receive('t_1', 'u_grace', true, 5_000, 'title'); // refreshed
    vi.advanceTimersByTime(4_000);
    expect(store.of('t_1').value).not.toBeNull();
    vi.advanceTimersByTime(1_001);
    expect(store.of('t_1').value).toBeNull();
  });

  it('clears on the sender’s "off", not on someone else’s, and ignores the person’s own hints', () => {
    const store = new HintStore('u_me');
    store.receive('t_1', 'u_grace', true);
    store.receive('t_1', 'u_alan', false);
    expect(store.of('t_1').value?.userId).toBe('u_grace');
    store.receive('t_1', 'u_grace', false);
    expect(store.of('t_1').value).toBeNull();
    store.receive('t_2', 'u_me', true);
    expect(store.of('t_2').value).toBeNull();
    store.dispose();
  });

  it('loads the snapshot’s hints, which expire like live ones', () => {
    vi.useFakeTimers();
    const store = new HintStore('u_me');
    store.receive('t_9', 'u_alan', true);
    store.load([{ taskId: 't_1', userId: 'u_grace', expiresInMs: 1_000 }]);
    expect(store.of('t_9').value).toBeNull();
    expect(store.of('t_1').value?.userId).toBe('u_grace');
    vi.advanceTimersByTime(1_001);
    expect(store.of('t_1').value).toBeNull();
  });

  it('repeats a held hint every 2 s and says "off" once on release', () => {
    vi.useFakeTimers();
    const sent: boolean[] = [];
    const hint = new HeldHint(async (on) => void sent.push(on));
    hint.hold();
    hint.hold();
    vi.advanceTimersByTime(4_100);
    hint.release();
    hint.release();
    vi.advanceTimersByTime(4_000);
    expect(sent).toEqual([true, true, true, false]);
  });
});
