import { effect, signal, type ReadonlySignal } from '@preact/signals';
import type { Connection } from './connection';
import { normalizeEnvelope, type AnyEnvelope } from './envelope';
import { ApiError, backoff, isTransient, sleep, type ErrorBus, type SdkError } from './errors';
import { LongPoller } from './fallback';
import type { Http } from './http';
import type { EventBatcher, BatchTarget } from './store';

export interface RoomHandlers {
  /** Fetches the room's snapshot into the store and returns its `cursor`. Called first and on every resync. */
  load(signal: AbortSignal): Promise<number>;
  /** Applies a burst of events, in seq order, inside one batched update. */
  apply(events: AnyEnvelope[]): void;
  /** The room refused us (forbidden) or its snapshot failed for good. Default: the global error event. */
  onError?(error: SdkError): void;
}

export interface SubscribeOptions {
  /** True while the room's phase flag is off: the server emits nothing, so poll instead. */
  pollOnly?: ReadonlySignal<boolean>;
  /**
   * The snapshot carries ephemeral state (presence) that is never replayed: reload it
   * after every socket (re)join, since changes between the snapshot and the join (or
   * during an outage) were sent to no one.
   */
  ephemeral?: boolean;
}

export type SubscriptionStatus = 'loading' | 'ready' | 'error' | 'closed';

export interface Subscription {
  readonly room: string;
  readonly status: ReadonlySignal<SubscriptionStatus>;
  /** Settles once the first snapshot is in (or the room failed). */
  readonly ready: Promise<void>;
  lastSeq(): number;
  /** Reloads the snapshot now (coalesced with any reload in flight). */
  reload(): Promise<void>;
  close(): void;
}

export type EventSource = 'socket' | 'poll';

export interface SubscriptionDeps {
  connection: Connection;
  http: Http;
  batcher: EventBatcher;
  errors: ErrorBus;
  /** Called with every live (not replayed) socket event, for latency telemetry. */
  onLiveEvent?: (envelope: AnyEnvelope) => void;
  pollWaitSeconds?: number;
  pollMinIntervalMs?: number;
  /**
   * While polling, also reload snapshots this often: presence is ephemeral (never in
   * the event log), and a phase that is off may record nothing to poll.
   */
  pollSnapshotMs?: number;
}

export interface SubscriptionStats {
  duplicates: number;
  gated: number;
  invalid: number;
  reloads: number;
}

/**
 * Rooms and their readers. Each reader loads a snapshot, then gets the room's events
 * after its cursor — replayed first, then live — with duplicates dropped by seq, whether
 * they come from the socket or from the /api/events fallback.
 */
export class Subscriptions {
  private readonly channels = new Map<string, RoomChannel>();
  private readonly listeners = new Set<(envelope: AnyEnvelope) => void>();
  private readonly listenerSeq = new Map<string, number>();
  readonly stats: SubscriptionStats = { duplicates: 0, gated: 0, invalid: 0, reloads: 0 };

  constructor(private readonly deps: SubscriptionDeps) {
    deps.connection.onEvent((event, payload) => this.receive(payload, 'socket', event));
    deps.connection.onConnect(() => {
      for (const channel of this.channels.values()) void channel.join();
    });
  }

  subscribe(room: string, handlers: RoomHandlers, options: SubscribeOptions = {}): Subscription {
    let channel = this.channels.get(room);
    if (!channel) {
      channel = new RoomChannel(room, this.deps, (raw) => this.receive(raw, 'poll'), () => this.channels.delete(room));
      this.channels.set(room, channel);
    }
    const consumer = new Consumer(room, handlers, options, channel, this.deps, this.stats);
    channel.add(consumer);
    void consumer.reload();
    return consumer;
  }

  /** Every accepted event of every room, including rooms joined implicitly such as `user:{id}`. */
  onEvent(listener: (envelope: AnyEnvelope) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The one entry point for events, from the socket or from a poll. */
  receive(raw: unknown, source: EventSource, socketEvent?: string): void {
    const normalized = normalizeEnvelope(raw, socketEvent);
    if (normalized.kind === 'invalid') {
      this.stats.invalid += 1;
      console.warn('tandem: dropped a malformed event:', normalized.reason);
      return;
    }
    if (normalized.kind === 'unknown-event') return;
    const envelope = normalized.envelope;
    if (envelope.event === 'resync.required') {
      const room = (envelope.data as { room?: string }).room || envelope.room;
      this.channels.get(room)?.resync();
      return;
    }
    const channel = this.channels.get(envelope.room);
    const gated = normalized.kind === 'unknown-version';
    if (gated) this.stats.gated += 1;
    const replayed = source === 'socket' && channel?.replaying === true;
    channel?.deliver(envelope, gated);
    if (gated || !this.firstSighting(envelope)) return;
    if (source === 'socket' && !replayed) this.deps.onLiveEvent?.(envelope);
    for (const listener of this.listeners) listener(envelope);
  }

  /** False for a durable event this client has already seen in its room (any source). */
  private firstSighting(envelope: AnyEnvelope): boolean {
    if (envelope.seq === undefined) return true;
    const last = this.listenerSeq.get(envelope.room);
    if (last !== undefined && envelope.seq <= last) return false;
    this.listenerSeq.set(envelope.room, envelope.seq);
    return true;
  }
}

/** One room on the wire: one socket subscription and, when needed, one poller, shared by its readers. */
class RoomChannel {
  private readonly consumers = new Set<Consumer>();
  private readonly consumerCount = signal(0);
  private joinState: 'none' | 'pending' | 'joined' | 'forbidden' = 'none';
  private joinAgain = false;
  private readonly joinDelays = backoff(500, 10_000);
  private poller: LongPoller | null = null;
  private snapshotTimer: ReturnType<typeof setInterval> | null = null;
  private readonly disposeEffect: () => void;
  /** True between `subscribe` and its ack: what arrives then is replay, not live. */
  replaying = false;
  /** Counts acknowledged joins, so a reader knows whether its snapshot predates the latest one. */
  joinEpoch = 0;

  constructor(
    readonly room: string,
    private readonly deps: SubscriptionDeps,
    private readonly receivePolled: (raw: unknown) => void,
    private readonly onEmpty: () => void,
  ) {
    this.disposeEffect = effect(() => {
      const state = deps.connection.state.value;
      this.consumerCount.value;
      const flagOff = [...this.consumers].some((c) => c.pollOnly?.value === true);
      if (state !== 'live') this.joinState = this.joinState === 'forbidden' ? 'forbidden' : 'none';
      this.setPolling((state === 'offline-polling' || flagOff) && this.joinState !== 'forbidden');
    });
  }

  add(consumer: Consumer): void {
    this.consumers.add(consumer);
    this.consumerCount.value = this.consumers.size;
  }

  remove(consumer: Consumer): void {
    this.consumers.delete(consumer);
    this.consumerCount.value = this.consumers.size;
    if (this.consumers.size > 0) return;
    this.disposeEffect();
    this.setPolling(false);
    if (this.joinState === 'joined' || this.joinState === 'pending') {
      this.deps.connection.request('unsubscribe', { room: this.room }).catch(() => undefined);
    }
    this.joinState = 'none';
    this.onEmpty();
  }

  /** The seq to resume from: the oldest among readers that have a snapshot. */
  after(): number | null {
    let min: number | null = null;
    for (const consumer of this.consumers) {
      if (consumer.status.peek() !== 'ready') continue;
      const seq = consumer.lastSeq();
      if (min === null || seq < min) min = seq;
    }
    return min;
  }

  /** Subscribes on the socket with the last seen seq; called on every (re)connect and after a reload. */
  async join(): Promise<void> {
    if (!this.deps.connection.live || this.joinState === 'forbidden' || this.consumers.size === 0) return;
    const after = this.after();
    if (after === null) return;
    if (this.joinState === 'pending') {
      this.joinAgain = true;
      return;
    }
    this.joinState = 'pending';
    this.replaying = true;
    try {
      const ack = await this.deps.connection.request('subscribe', { room: this.room, after });
      if (!ack.ok) {
        const code = ack.error?.code ?? 'internal';
        const message = ack.error?.message ?? 'Subscription refused.';
        if (code === 'forbidden' || code === 'invalid') {
          this.joinState = 'forbidden';
          this.fail({ code, message, source: 'subscribe' });
          return;
        }
        throw new ApiError(0, code, message, ack.error?.retryAfterMs);
      }
      this.joinState = 'joined';
      this.joinDelays.reset();
      this.joinEpoch += 1;
      for (const consumer of this.consumers) consumer.joined(this.joinEpoch);
    } catch (err) {
      this.joinState = 'none';
      if (this.deps.connection.live) {
        const delay = this.joinDelays.next(err);
        setTimeout(() => void this.join(), delay);
      }
    } finally {
      this.replaying = false;
      if (this.joinAgain) {
        this.joinAgain = false;
        void this.join();
      }
    }
  }

  /** Joins unless already joined: a joined room keeps delivering while a reader reloads. */
  ensureJoined(): void {
    if (this.joinState === 'none') void this.join();
  }

  deliver(envelope: AnyEnvelope, gated: boolean): void {
    for (const consumer of this.consumers) consumer.receive(envelope, gated);
  }

  resync(): void {
    for (const consumer of this.consumers) consumer.resync();
  }

  fail(error: SdkError): void {
    this.joinState = 'forbidden';
    this.setPolling(false);
    for (const consumer of this.consumers) consumer.fail(error);
  }

  private setPolling(wanted: boolean): void {
    if (wanted && !this.poller) {
      this.poller = new LongPoller({
        http: this.deps.http,
        room: this.room,
        after: () => this.after(),
        waitSeconds: this.deps.pollWaitSeconds,
        minIntervalMs: this.deps.pollMinIntervalMs,
        onEvents: (events, cursor) => {
          for (const raw of events) this.receivePolled(raw);
          for (const consumer of this.consumers) consumer.advanceTo(cursor);
        },
        onResync: () => this.resync(),
        onForbidden: (err) => {
          this.setPolling(false);
          this.fail({ code: 'forbidden', message: err.message, source: 'poll' });
        },
      });
      this.poller.start();
      this.snapshotTimer = setInterval(() => {
        for (const consumer of this.consumers) if (consumer.status.peek() === 'ready') void consumer.reload();
      }, this.deps.pollSnapshotMs ?? 15_000);
    } else if (!wanted && this.poller) {
      this.poller.stop();
      this.poller = null;
      if (this.snapshotTimer) clearInterval(this.snapshotTimer);
      this.snapshotTimer = null;
    }
  }
}

/** One reader of a room: its snapshot, its last seq, its handlers. */
class Consumer implements Subscription, BatchTarget {
  private readonly _status = signal<SubscriptionStatus>('loading');
  readonly status: ReadonlySignal<SubscriptionStatus> = this._status;
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private seq = -1;
  private buffering = true;
  private buffer: Array<[AnyEnvelope, boolean]> = [];
  private loading: Promise<void> | null = null;
  private refreshQueued = false;
  /** The channel's join epoch when the current snapshot was requested. */
  private loadEpoch = -1;
  private readonly ephemeral: boolean;
  private lastEphemeralRefresh = 0;
  private readonly controller = new AbortController();
  readonly pollOnly?: ReadonlySignal<boolean>;

  constructor(
    readonly room: string,
    private readonly handlers: RoomHandlers,
    options: SubscribeOptions,
    private readonly channel: RoomChannel,
    private readonly deps: SubscriptionDeps,
    private readonly stats: SubscriptionStats,
  ) {
    this.pollOnly = options.pollOnly;
    this.ephemeral = options.ephemeral ?? false;
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
  }

  lastSeq(): number {
    return this.seq;
  }

  reload(): Promise<void> {
    if (this._status.peek() === 'closed') return Promise.resolve();
    if (!this.loading) {
      this.loading = this.load().finally(() => {
        this.loading = null;
        if (this.refreshQueued) {
          this.refreshQueued = false;
          void this.reload();
        }
      });
    }
    return this.loading;
  }

  /** `resync.required`: one reload, however many resyncs arrive while it runs. */
  resync(): void {
    if (!this.loading) void this.reload();
  }

  receive(envelope: AnyEnvelope, gated: boolean): void {
    const status = this._status.peek();
    if (status === 'closed' || status === 'error') return;
    if (this.buffering) {
      this.buffer.push([envelope, gated]);
      return;
    }
    if (envelope.seq !== undefined) {
      if (envelope.seq <= this.seq) {
        this.stats.duplicates += 1;
        return;
      }
      this.seq = envelope.seq;
    }
    if (gated) return this.refreshForUnknownVersion(envelope);
    this.deps.batcher.push(this, envelope);
  }

  /** The room was (re)joined: ephemeral state in a snapshot older than that join may be stale. */
  joined(epoch: number): void {
    if (!this.ephemeral || this.loadEpoch >= epoch) return;
    const status = this._status.peek();
    if (status === 'closed' || status === 'error') return;
    if (this.loading) this.refreshQueued = true;
    else void this.reload();
  }

  /** A poll answered "nothing newer than `cursor`": resume from there. */
  advanceTo(cursor: number): void {
    if (!this.buffering && this._status.peek() === 'ready' && cursor > this.seq) this.seq = cursor;
  }

  applyBatch(events: AnyEnvelope[]): void {
    if (this._status.peek() !== 'closed') this.handlers.apply(events);
  }

  fail(error: SdkError): void {
    if (this._status.peek() === 'closed') return;
    this._status.value = 'error';
    this.resolveReady();
    if (this.handlers.onError) this.handlers.onError(error);
    else this.deps.errors.emit(error);
  }

  close(): void {
    if (this._status.peek() === 'closed') return;
    this._status.value = 'closed';
    this.controller.abort(new DOMException('closed', 'AbortError'));
    this.deps.batcher.discard(this);
    this.channel.remove(this);
  }

  private refreshForUnknownVersion(envelope: AnyEnvelope): void {
    if (envelope.seq === undefined) {
      // Ephemeral events can come often; refresh for them at most every 10 s.
      if (Date.now() - this.lastEphemeralRefresh < 10_000) return;
      this.lastEphemeralRefresh = Date.now();
    }
    if (this.loading) this.refreshQueued = true;
    else void this.reload();
  }

  private async load(): Promise<void> {
    // Apply what is already accepted before the snapshot replaces the store.
    this.deps.batcher.flush();
    this.buffering = true;
    this.stats.reloads += 1;
    this.loadEpoch = this.channel.joinEpoch;
    const delays = backoff(500, 10_000);
    const signal = this.controller.signal;
    for (;;) {
      if (signal.aborted) return;
      try {
        this.seq = await this.handlers.load(signal);
        break;
      } catch (err) {
        if (signal.aborted) return;
        if (!isTransient(err)) {
          this.buffering = false;
          this.buffer = [];
          const e = err instanceof ApiError ? err : null;
          this.fail({ code: e?.code ?? 'error', message: err instanceof Error ? err.message : String(err), source: 'snapshot' });
          return;
        }
        await sleep(delays.next(err), signal).catch(() => undefined);
      }
    }
    const buffered = this.buffer;
    this.buffer = [];
    this.buffering = false;
    for (const [envelope, gated] of buffered) this.receive(envelope, gated);
    this._status.value = 'ready';
    this.resolveReady();
    this.channel.ensureJoined();
  }
}
