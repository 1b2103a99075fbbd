import { effect, signal } from '@preact/signals';
import type { Consumer } from './consumer';
import { ApiError, backoff, type SdkError } from './errors';
import { LongPoller } from './fallback';
import type { AnyEnvelope } from './envelope';
import type { SubscriptionDeps } from './subscriptions';

/** One room on the wire: one socket subscription and, when needed, one poller, shared by its readers. */
export class RoomChannel {
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
      void this.consumerCount.value; // re-run when a consumer comes or goes
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
