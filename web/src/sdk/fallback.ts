import type { components } from './api.gen';
import { ApiError, backoff, sleep } from './errors';
import type { Http } from './http';
import { Rest } from './rest';

export type EventsResponse = components['schemas']['EventsOut'];

export interface LongPollerOptions {
  http: Http;
  room: string;
  /** The seq to ask from; null while no reader of the room has a snapshot yet. */
  after: () => number | null;
  onEvents: (events: unknown[], cursor: number) => void;
  onResync: () => void;
  /** The room is gone or no longer ours (403/404): polling stops. */
  onForbidden: (error: ApiError) => void;
  waitSeconds?: number;
  /** A server that answers an empty long-poll at once must not be hammered. */
  minIntervalMs?: number;
}

/**
 * The REST fallback for one room: GET /api/events long-polling, feeding the same
 * subscription path as the socket. Failures are retried quietly with backoff.
 */
export class LongPoller {
  private controller: AbortController | null = null;

  constructor(private readonly opts: LongPollerOptions) {}

  get running(): boolean {
    return this.controller !== null;
  }

  start(): void {
    if (this.controller) return;
    const controller = new AbortController();
    this.controller = controller;
    void this.loop(controller.signal);
  }

  stop(): void {
    this.controller?.abort(new DOMException('stopped', 'AbortError'));
    this.controller = null;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const { http, room } = this.opts;
    const wait = this.opts.waitSeconds ?? 25;
    const minInterval = this.opts.minIntervalMs ?? 1_000;
    const delays = backoff(1_000, 15_000);
    while (!signal.aborted) {
      try {
        const after = this.opts.after();
        if (after === null) {
          await sleep(250, signal);
          continue;
        }
        const started = Date.now();
        const res = await new Rest(http).get('/api/events', { query: { room, after, wait }, signal, retry: false });
        if (signal.aborted) return;
        delays.reset();
        if (res.resync) {
          this.opts.onResync();
          await sleep(minInterval, signal);
          continue;
        }
        const events = Array.isArray(res.events) ? res.events : [];
        this.opts.onEvents(events, typeof res.cursor === 'number' ? res.cursor : after);
        if (events.length === 0 && Date.now() - started < minInterval) await sleep(minInterval, signal);
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiError && (err.status === 403 || err.status === 404)) {
          this.controller = null;
          this.opts.onForbidden(err);
          return;
        }
        try {
          await sleep(delays.next(err), signal);
        } catch {
          return;
        }
      }
    }
  }
}
