import { createStore } from 'idb-keyval';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TandemClient } from './client';
import { clientFor } from './testing/client';
import { FakeServer } from './testing/fake-server';
import { ApiError, ErrorBus, type SdkError } from './errors';
import { OfflineQueue, type QueuedCommand } from './offline-queue';

let n = 0;
const freshStore = () => createStore(`queue-test-${++n}`, 'queue');

describe('OfflineQueue', () => {
  it('keeps commands across a reload and sends them in order, each with its client id', async () => {
    const store = freshStore();
    const errors = new ErrorBus();
    const first = new OfflineQueue('u_me', errors, store);
    first.canSend = () => false; // offline
    await first.enqueue('chat.message.send', { text: 'one' }, 'cl_1');
    await first.enqueue('chat.message.send', { text: 'two' }, 'cl_2');
    await first.enqueue('chat.message.send', { text: 'three' }, 'cl_3');
    expect(first.pending.value.map((c) => c.clientId)).toEqual(['cl_1', 'cl_2', 'cl_3']);

    // The page reloads: a new queue over the same IndexedDB.
    const sent: string[] = [];
    const second = new OfflineQueue('u_me', errors, store);
    second.register('chat.message.send', async (c: QueuedCommand) => {
      sent.push(`${c.clientId}:${(c.payload as { text: string }).text}`);
    });
    await second.load();
    expect(second.pending.value).toHaveLength(3);
    await second.flush();
    expect(sent).toEqual(['cl_1:one', 'cl_2:two', 'cl_3:three']);
    expect(second.pending.value).toEqual([]);

    const third = new OfflineQueue('u_me', errors, store);
    await third.load();
    expect(third.pending.value).toEqual([]);
  });

  it('stops at a transient failure and keeps the order for the retry', async () => {
    const queue = new OfflineQueue('u_me', new ErrorBus(), freshStore());
    let up = false;
    const sent: string[] = [];
    queue.register('x', async (c) => {
      if (!up) throw new ApiError(0, 'network', 'down');
      sent.push(c.clientId);
    });
    await queue.enqueue('x', {}, 'a');
    await queue.enqueue('x', {}, 'b');
    await queue.flush();
    expect(queue.pending.value.map((c) => c.clientId)).toEqual(['a', 'b']);
    up = true;
    await queue.flush();
    expect(sent).toEqual(['a', 'b']);
    queue.dispose();
  });

  it('drops a command the server refuses for good and raises the global error event', async () => {
    const errors = new ErrorBus();
    const seen: SdkError[] = [];
    errors.on((e) => seen.push(e));
    const queue = new OfflineQueue('u_me', errors, freshStore());
    const sent: string[] = [];
    queue.register('x', async (c) => {
      if (c.clientId === 'bad') throw new ApiError(403, 'forbidden', 'Not allowed.');
      sent.push(c.clientId);
    });
    queue.canSend = () => false;
    await queue.enqueue('x', {}, 'bad');
    await queue.enqueue('x', {}, 'good');
    queue.canSend = () => true;
    await queue.flush();
    expect(sent).toEqual(['good']);
    expect(seen).toEqual([{ code: 'forbidden', message: 'Not allowed.', source: 'queue:x' }]);
  });

  it('does not queue the same client id twice', async () => {
    const queue = new OfflineQueue('u_me', new ErrorBus(), freshStore());
    queue.canSend = () => false;
    await queue.enqueue('x', {}, 'same');
    await queue.enqueue('x', {}, 'same');
    expect(queue.pending.value).toHaveLength(1);
  });
});

describe('the client\'s queued REST writes', () => {
  let client: TandemClient | null = null;
  afterEach(() => {
    client?.stop();
    client = null;
  });

  it('holds writes while the server is down, then sends them in order with their client ids, once each', async () => {
    const server = new FakeServer();
    const store = freshStore();
    server.stop(); // the server is down from the start
    client = clientFor(server, { queueStore: store });
    client.start('u_me');
    const path = '/api/conversations/conv_1/messages';
    await client.enqueueHttp({ method: 'POST', path, body: { clientId: 'cl_a', text: 'first' } }, 'cl_a');
    await client.enqueueHttp({ method: 'POST', path, body: { clientId: 'cl_b', text: 'second' } }, 'cl_b');
    await new Promise((r) => setTimeout(r, 50));
    expect(client.queue!.pending.value).toHaveLength(2);

    // The tab reloads while still offline; the server comes back afterwards.
    client.stop();
    client = clientFor(server, { queueStore: store });
    client.start('u_me');
    server.start();
    await vi.waitFor(() => expect(server.messages.map((m) => m.text)).toEqual(['first', 'second']), { timeout: 5_000 });
    expect(server.messages.map((m) => m.key)).toEqual(['cl_a', 'cl_b']);
    await vi.waitFor(() => expect(client!.queue!.pending.value).toEqual([]));
  });
});
