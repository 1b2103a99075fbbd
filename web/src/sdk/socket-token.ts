import { backoff, isTransient } from './errors';
import type { Http } from './http';
import { Rest } from './rest';

function expiryMs(expiresAt: string | number): number {
  if (typeof expiresAt === 'number') return expiresAt < 1e12 ? expiresAt * 1000 : expiresAt;
  const parsed = Date.parse(expiresAt);
  return Number.isNaN(parsed) ? Date.now() + 60_000 : parsed;
}

/**
 * Short-lived socket tokens from /api/auth/socket-token. A token is renewed a margin
 * before it expires, so a reconnect never waits on a round trip and never presents a
 * stale token; `invalidate` drops one the server refused.
 */
export class SocketTokenSource {
  private token: string | null = null;
  private expiresAt = 0;
  private inflight: Promise<string> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  private readonly retryDelays = backoff(1_000, 30_000);

  constructor(
    private readonly http: Http,
    private readonly marginMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.running = true;
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A token valid for at least half the margin, fetched if need be. */
  get(): Promise<string> {
    if (this.token && this.expiresAt - this.now() > this.marginMs / 2) return Promise.resolve(this.token);
    return this.fetch();
  }

  invalidate(): void {
    this.token = null;
    this.expiresAt = 0;
  }

  private fetch(): Promise<string> {
    if (!this.inflight) {
      this.inflight = new Rest(this.http)
        .post('/api/auth/socket-token', { retry: false })
        .then((res) => {
          this.token = res.token;
          this.expiresAt = expiryMs(res.expiresAt);
          this.retryDelays.reset();
          this.schedule(Math.max(1_000, this.expiresAt - this.now() - this.marginMs));
          return res.token;
        })
        .catch((err) => {
          if (isTransient(err)) this.schedule(this.retryDelays.next(err));
          throw err;
        })
        .finally(() => {
          this.inflight = null;
        });
    }
    return this.inflight;
  }

  private schedule(delay: number): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fetch().catch(() => undefined);
    }, delay);
  }
}
