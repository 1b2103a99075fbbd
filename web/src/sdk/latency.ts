import type { components } from './api.gen';
import type { Http } from './http';
import { Rest } from './rest';

export type LatencySample = components['schemas']['LatencySample'];
export type CallOutcome = components['schemas']['CallOutcome'];
/** POST /api/telemetry/latency; `orgId` makes the samples count toward that organization. */
type LatencyBody = components['schemas']['LatencyIn'];

/** Calls `listener` whenever the page is hidden: tab switched or closed, navigated away, app backgrounded. */
export type PageHideWatcher = (listener: () => void) => () => void;

/**
 * `visibilitychange` to hidden is the last event a mobile browser reliably fires before it
 * may discard the page; `pagehide` covers desktop unloads that skip it. Both may fire.
 */
export const watchPageHide: PageHideWatcher = (listener) => {
  const page = globalThis.window;
  if (!page?.document) return () => undefined;
  const onVisibility = () => {
    if (page.document.visibilityState === 'hidden') listener();
  };
  page.document.addEventListener('visibilitychange', onVisibility);
  page.addEventListener('pagehide', listener);
  return () => {
    page.document.removeEventListener('visibilitychange', onVisibility);
    page.removeEventListener('pagehide', listener);
  };
};

/**
 * Client-observed latency (`meta.emittedAt` → received) for the server's metrics, sent
 * in batches, and once more when the page is hidden. Telemetry is best effort: a failed
 * batch is dropped, never retried.
 */
export class LatencyReporter {
  private samples: LatencySample[] = [];
  private outcomes = new Map<CallOutcome['phase'], { calls: number; failed: number }>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private unwatchPage: (() => void) | null = null;
  private org: string | null = null;

  constructor(
    private readonly http: Http,
    private readonly intervalMs = 10_000,
    private readonly maxBuffered = 500,
    private readonly now: () => number = Date.now,
    private readonly onPageHide: PageHideWatcher = watchPageHide,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    // sendBeacon would outlive the page too, but it cannot send the Bearer token the endpoint needs.
    // A full buffer of the default 500 samples stays well under keepalive's 64 KiB body limit.
    this.unwatchPage = this.onPageHide(() => void this.flush({ keepalive: true }));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unwatchPage?.();
    this.unwatchPage = null;
  }

  /** The organization of the page the samples come from: they count toward its figures. */
  get orgId(): string | null {
    return this.org;
  }

  set orgId(orgId: string | null) {
    if (orgId === this.org) return;
    // Samples already taken belong to the page they were taken on.
    void this.flush();
    this.org = orgId;
  }

  get buffered(): number {
    return this.samples.length;
  }

  record(event: string, emittedAt: string): void {
    const emitted = Date.parse(emittedAt);
    if (Number.isNaN(emitted)) return;
    // Clocks differ a little between client and server; a negative reading means "instant".
    const ms = Math.max(0, this.now() - emitted);
    if (ms > 600_000) return; // the server refuses samples over 10 minutes
    if (this.samples.length >= this.maxBuffered) this.samples.shift();
    this.samples.push({ event, ms });
  }

  /**
   * One call a page of `phase` made for `orgId` (its snapshot): `failed` when the server answered
   * with a 5xx. They feed the organization's error rate, which the automatic rollback watches;
   * calls for another organization than the page's are not counted.
   */
  outcome(orgId: string, phase: CallOutcome['phase'], failed: boolean): void {
    if (orgId !== this.org) return;
    const counted = this.outcomes.get(phase) ?? { calls: 0, failed: 0 };
    counted.calls += 1;
    if (failed) counted.failed += 1;
    this.outcomes.set(phase, counted);
  }

  /** Sends the buffered samples and outcomes; `keepalive` lets the request finish after the page is gone. */
  async flush({ keepalive = false }: { keepalive?: boolean } = {}): Promise<void> {
    if (this.samples.length === 0 && this.outcomes.size === 0) return;
    const samples = this.samples;
    this.samples = [];
    const outcomes: CallOutcome[] = [...this.outcomes].map(([phase, o]) => ({ phase, ...o }));
    this.outcomes = new Map();
    const body: LatencyBody = this.org ? { samples, orgId: this.org } : { samples };
    if (this.org && outcomes.length > 0) body.outcomes = outcomes;
    try {
      await new Rest(this.http).post('/api/telemetry/latency', { body, retry: false, keepalive });
    } catch {
      // Dropped on purpose (see class comment).
    }
  }
}
