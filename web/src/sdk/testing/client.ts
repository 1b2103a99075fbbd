import { createStore } from 'idb-keyval';
import { TandemClient, type ClientOptions } from '../client';
import { memoryStorage } from '../tokens';
import type { FakeServer } from './fake-server';

let storeCount = 0;

/** A client wired to a fake server, signed in, with fast timers. */
export function clientFor(server: FakeServer, options: ClientOptions = {}): TandemClient {
  const storage = memoryStorage();
  storage.setItem('tandem.accessToken', 'access-1');
  storage.setItem('tandem.refreshToken', 'refresh-1');
  return new TandemClient({
    fetch: server.fetch,
    socketFactory: server.socketFactory,
    socketUrl: 'http://fake.test',
    storage,
    scheduler: (flush) => void setTimeout(flush, 0),
    fallbackAfterMs: 400,
    pollWaitSeconds: 1,
    pollMinIntervalMs: 20,
    latencyIntervalMs: 60_000,
    queueStore: createStore(`tandem-test-${++storeCount}`, 'queue'),
    ...options,
  });
}
