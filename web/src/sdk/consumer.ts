import { signal, type ReadonlySignal } from '@preact/signals';
import type { AnyEnvelope } from './envelope';
import { ApiError, backoff, isTransient, sleep, type SdkError } from './errors';
import type { RoomChannel } from './room-channel';
import type { BatchTarget } from './store';
import type { RoomHandlers, SubscribeOptions, Subscription, SubscriptionDeps, SubscriptionStats, SubscriptionStatus } from './subscriptions';

/** One reader of a room: its snapshot, its last seq, its handlers. */
export class Consumer implements Subscription, BatchTarget {
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
    // An eviction reaches only readers that asked: the person hears of their removal by its own
    // event (org.member.removed, project.member.removed), and a toast for every room would repeat it.
    else if (error.source !== 'evicted') this.deps.errors.emit(error);
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
