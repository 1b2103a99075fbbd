import type { Http } from './http';

export interface LatencySample {
  event: string;
  ms: number;
}

/**
 * Client-observed latency (`meta.emittedAt` → received) for the server's metrics, sent
 * in batches. Telemetry is best effort: a failed batch is dropped, never retried.
 */
export class LatencyReporter {
  private samples: LatencySample[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly http: Http,
    private readonly intervalMs = 10_000,
    private readonly maxBuffered = 500,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (!this.timer) this.timer = setInterval(() => void this.flush(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
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

  async flush(): Promise<void> {
    if (this.samples.length === 0) return;
    const samples = this.samples;
    this.samples = [];
    try {
      await this.http.post('/api/telemetry/latency', { samples }, { retry: false });
    } catch {
      // Dropped on purpose (see class comment).
    }
  }
}
