import { computed, signal } from '@preact/signals';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors';
import type { FlagWatcher, Phase } from '../flags';
import type { RoomHandlers, Subscription } from '../subscriptions';
import { subscribeTyped, type RoomClient } from './typed';

/** A client whose subscribe hands back the handlers, and whose outcomes the test reads. */
function fakeClient() {
  const outcomes: Array<[string, Phase, boolean]> = [];
  let handlers: RoomHandlers | null = null;
  const flags = {
    watch: () => ({ off: computed(() => false), state: signal('on'), release: () => undefined }),
  } as unknown as FlagWatcher;
  const client: RoomClient = {
    flags,
    subscribe(_room, given) {
      handlers = given;
      return { close: () => undefined } as unknown as Subscription;
    },
    latency: { outcome: (orgId, phase, failed) => void outcomes.push([orgId, phase, failed]) },
  };
  return { client, outcomes, load: (signal: AbortSignal) => handlers!.load(signal) };
}

describe('subscribeTyped', () => {
  it("counts each snapshot's outcome toward its organization's error rate", async () => {
    const { client, outcomes, load } = fakeClient();
    const answers: Array<number | Error> = [
      7,
      new ApiError(503, 'unavailable', 'down'),
      new ApiError(404, 'not_found', 'gone'), // the client's problem, not the server's
      new TypeError('Failed to fetch'), // the network's
    ];
    subscribeTyped(client, 'project:p_1', {
      load: async () => {
        const next = answers.shift()!;
        if (next instanceof Error) throw next;
        return next;
      },
    }, { orgId: 'org_a', phase: 'kanban' });
    const signal = new AbortController().signal;
    await expect(load(signal)).resolves.toBe(7);
    for (let i = 0; i < 3; i++) await expect(load(signal)).rejects.toThrow();
    expect(outcomes).toEqual([
      ['org_a', 'kanban', false],
      ['org_a', 'kanban', true],
    ]);
  });

  it('counts nothing for a room with no phase flag', async () => {
    const { client, outcomes, load } = fakeClient();
    subscribeTyped(client, 'user:u_1', { load: async () => 3 });
    await load(new AbortController().signal);
    expect(outcomes).toEqual([]);
  });
});
