import type { ReadonlySignal } from '@preact/signals';
import type { Connection } from './connection';
import { Consumer } from './consumer';
import { normalizeEnvelope, type AnyEnvelope } from './envelope';
import type { ErrorBus, SdkError } from './errors';
import type { Http } from './http';
import { RoomChannel } from './room-channel';
import type { EventBatcher } from './store';

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
    if (envelope.event === 'room.evicted') {
      // Access lost: the reader says so instead of going stale (no rejoin: it would be refused).
      this.channels.get(envelope.room)?.fail({ code: 'forbidden', message: 'You no longer have access to this.', source: 'evicted' });
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
