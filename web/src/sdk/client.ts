import { effect } from '@preact/signals';
import type { UseStore } from 'idb-keyval';
import { Connection } from './connection';
import type { AnyEnvelope } from './envelope';
import { ErrorBus } from './errors';
import { FlagWatcher } from './flags';
import { Http } from './http';
import { LatencyReporter } from './latency';
import { OfflineQueue } from './offline-queue';
import { Rest } from './rest';
import { Soak, type SoakOptions } from './soak';
import { SocketTokenSource } from './socket-token';
import { EventBatcher, type Scheduler } from './store';
import { Subscriptions, type RoomHandlers, type SubscribeOptions, type Subscription } from './subscriptions';
import { TokenStore, type KeyValueStorage } from './tokens';
import { socketIoFactory, type SocketFactory } from './transport';

export interface ClientOptions extends SoakOptions {
  /** Prefix for REST calls; '' (same origin) by default. */
  baseUrl?: string;
  socketUrl?: string;
  socketPath?: string;
  fetch?: typeof fetch;
  storage?: KeyValueStorage;
  socketFactory?: SocketFactory;
  scheduler?: Scheduler;
  fallbackAfterMs?: number;
  latencyIntervalMs?: number;
  flagsIntervalMs?: number;
  pollWaitSeconds?: number;
  pollMinIntervalMs?: number;
  pollSnapshotMs?: number;
  queueStore?: UseStore;
  onUnauthenticated?: () => void;
}

/** The queue's built-in command: an idempotent REST write. */
export const HTTP_COMMAND = 'http';
export interface HttpCommand {
  method: 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: string;
  body?: unknown;
}

/** The SDK in one object: REST, the socket, rooms, the offline queue and telemetry. */
export class TandemClient {
  readonly tokens: TokenStore;
  readonly http: Http;
  /** REST typed by the OpenAPI document (`client.api.get('/api/me')`). */
  readonly api: Rest;
  readonly errors = new ErrorBus();
  readonly connection: Connection;
  readonly subscriptions: Subscriptions;
  readonly latency: LatencyReporter;
  readonly flags: FlagWatcher;
  readonly batcher: EventBatcher;
  /** Soak verification of live rooms, and the debug switches (`soak.debug.dropNext`). */
  readonly soak: Soak;
  queue: OfflineQueue | null = null;
  private cleanups: Array<() => void> = [];

  constructor(private readonly options: ClientOptions = {}) {
    this.tokens = new TokenStore(options.storage ?? globalThis.localStorage);
    this.http = new Http({
      tokens: this.tokens,
      baseUrl: options.baseUrl,
      fetch: options.fetch,
      onUnauthenticated: () => {
        this.stop();
        options.onUnauthenticated?.();
      },
    });
    this.api = new Rest(this.http);
    const socketTokens = new SocketTokenSource(this.http);
    this.connection = new Connection({
      factory: options.socketFactory ?? socketIoFactory,
      tokens: socketTokens,
      url: options.socketUrl ?? globalThis.location?.origin ?? '',
      path: options.socketPath,
      fallbackAfterMs: options.fallbackAfterMs,
    });
    this.batcher = new EventBatcher(options.scheduler, undefined, (target, error) => {
      console.error('tandem: a reducer failed; reloading the snapshot', error);
      void (target as unknown as Subscription).reload?.();
    });
    this.latency = new LatencyReporter(this.http, options.latencyIntervalMs);
    this.flags = new FlagWatcher(this.http, options.flagsIntervalMs);
    this.soak = new Soak(this.http, this.connection, this.batcher, options);
    this.subscriptions = new Subscriptions({
      connection: this.connection,
      http: this.http,
      batcher: this.batcher,
      errors: this.errors,
      onLiveEvent: (envelope) => this.latency.record(envelope.event, envelope.meta.emittedAt),
      pollWaitSeconds: options.pollWaitSeconds,
      pollMinIntervalMs: options.pollMinIntervalMs,
      pollSnapshotMs: options.pollSnapshotMs,
    });
  }

  /** Opens the socket for the signed-in user and loads their offline queue. */
  start(userId: string): void {
    if (this.queue) return;
    const queue = new OfflineQueue(userId, this.errors, this.options.queueStore);
    queue.canSend = () => this.connection.state.peek() === 'live' || this.connection.state.peek() === 'offline-polling';
    // A REST write replayed with its client id as Idempotency-Key: the server makes one record.
    queue.register(HTTP_COMMAND, (command) => {
      const { method, path, body } = command.payload as HttpCommand;
      return this.http.request(method, path, { body, idempotencyKey: command.clientId, retry: false });
    });
    this.queue = queue;
    void queue.load();
    this.cleanups.push(
      this.connection.onConnect(() => void this.flags.refreshAll()),
      // Flush whenever the server becomes reachable again, by socket or by polling.
      effect(() => {
        const state = this.connection.state.value;
        if (state === 'live' || state === 'offline-polling') void queue.flush();
      }),
    );
    this.connection.start();
    this.latency.start();
  }

  stop(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.queue?.dispose();
    this.queue = null;
    this.connection.stop();
    void this.latency.flush();
    this.latency.stop();
    this.flags.stop();
  }

  subscribe(room: string, handlers: RoomHandlers, options?: SubscribeOptions): Subscription {
    return this.subscriptions.subscribe(room, handlers, options);
  }

  /** Sends an idempotent REST write now, or after reconnecting (kept in IndexedDB meanwhile). */
  enqueueHttp(command: HttpCommand, clientId?: string) {
    if (!this.queue) throw new Error('TandemClient.start() first');
    return this.queue.enqueue(HTTP_COMMAND, command, clientId);
  }

  onEvent(listener: (envelope: AnyEnvelope) => void): () => void {
    return this.subscriptions.onEvent(listener);
  }
}
