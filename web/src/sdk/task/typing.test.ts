import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TaskTyping, typingLine } from './typing';

const names: Record<string, string> = { u_grace: 'Grace Hopper', u_alan: 'Alan Turing' };
const nameOf = (id: string) => names[id] ?? id;

describe('typing hints on a task', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('shows who is typing where, ignores the person themself, and lapses without a refresh', () => {
    const typing = new TaskTyping('u_me');
    typing.receive('u_grace', 'comment', true, 5_000);
    typing.receive('u_me', 'comment', true, 5_000);
    typing.receive('u_alan', 'description', true, 3_000);
    expect(typingLine(typing.active.value, 'comment', nameOf)).toBe('Grace Hopper is typing a comment…');
    expect(typingLine(typing.active.value, 'description', nameOf)).toBe('Alan Turing is editing the description…');
    vi.advanceTimersByTime(3_001);
    expect(typingLine(typing.active.value, 'description', nameOf)).toBeNull();
    typing.receive('u_grace', 'comment', true, 5_000); // refreshed: lives on
    vi.advanceTimersByTime(4_000);
    expect(typing.active.value).toEqual([{ userId: 'u_grace', field: 'comment' }]);
    typing.receive('u_grace', 'comment', false);
    expect(typing.active.value).toEqual([]);
  });

  it('names several people typing the same thing', () => {
    const typing = new TaskTyping('u_me');
    typing.load([
      { userId: 'u_grace', field: 'comment', expiresInMs: 5_000 },
      { userId: 'u_alan', field: 'comment', expiresInMs: 5_000 },
    ]);
    expect(typingLine(typing.active.value, 'comment', nameOf)).toBe('Grace Hopper and Alan Turing are typing a comment…');
    typing.clear();
    expect(typing.active.value).toEqual([]);
  });
});
