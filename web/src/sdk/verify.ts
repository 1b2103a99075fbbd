import type { components } from './api.gen';
import { ApiError } from './errors';
import type { Phase } from './flags';
import type { Subscription } from './subscriptions';

/**
 * Soak verification (SPEC §6): while a phase is in `soak` for an org, each of its rooms
 * re-fetches the page's snapshot every few minutes, compares it with the live state at the
 * same cursor, and on a difference repairs the store from the snapshot and reports the drift.
 */

/** A page's state reduced to plain, comparable data: records keyed by id, no ephemeral parts. */
export type Comparable = unknown;

export interface VerifiedSnapshot {
  cursor: number;
  /** The snapshot, normalized like `current()`. */
  state: Comparable;
  /** Puts this snapshot in the store (called only when it differs from the live state). */
  repair(): void;
}

/** What a page gives to have its room verified during a soak. */
export interface VerifySource {
  /** Fetches a fresh snapshot without touching the store. */
  fetch(signal: AbortSignal): Promise<VerifiedSnapshot>;
  /** The live state now, normalized like the snapshot's. */
  current(): Comparable;
}

/** POST /api/orgs/{org_id}/realtime/drift */
export type DriftReport = Required<components['schemas']['DriftIn']>;

export const MAX_FIELDS = 50;
export const MAX_TRACE_IDS = 50;
export const MAX_EVENT_TYPES = 50;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The paths where two normalized states differ ("tasks.t_1.title"), at most `limit` of
 * them. A key missing on one side and `undefined` on the other are the same.
 */
export function diffStates(live: Comparable, fetched: Comparable, limit = MAX_FIELDS): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (out.length >= limit || Object.is(a, b)) return;
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) return void out.push(path);
      for (let i = 0; i < a.length && out.length < limit; i++) walk(a[i], b[i], join(path, String(i)));
      return;
    }
    if (isRecord(a) && isRecord(b)) {
      const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
      for (const key of [...keys].sort()) {
        if (out.length >= limit) return;
        const inA = a[key] !== undefined;
        const inB = b[key] !== undefined;
        if (inA !== inB) out.push(join(path, key));
        else if (inA) walk(a[key], b[key], join(path, key));
      }
      return;
    }
    out.push(path || '(root)');
  };
  walk(live, fetched, '');
  return out;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** `base` ± `spread` (a fraction), so that tabs opened together do not verify together. */
export function jittered(base: number, random: () => number = Math.random, spread = 0.3): number {
  return Math.round(base * (1 - spread + 2 * spread * random()));
}

export type VerifyOutcome =
  | { kind: 'same'; seq: number }
  | { kind: 'drift'; seq: number; fields: string[] }
  | { kind: 'skipped'; reason: 'not-ready' | 'hidden' | 'polling' | 'behind' | 'moved-on' | 'failed' | 'busy' };

export interface VerifierDeps {
  /** Base interval between checks (jittered ±30 %). */
  intervalMs: number;
  random: () => number;
  visible: () => boolean;
  /** The room is polled now (flag off, or no socket): the snapshot poll already covers it. */
  polling: () => boolean;
  /** Applies the events accepted but not applied yet (the batcher's queue). */
  flush: () => void;
  /** The seqs of the room's events after `after`, as the server's log has them; null when unknown. */
  roomSeqsAfter: (room: string, after: number, signal: AbortSignal) => Promise<number[] | null>;
  report: (orgId: string, body: DriftReport) => Promise<void>;
  /** How long to wait for the live seq to catch up with a newer snapshot. */
  waitMs: number;
  /** After a difference, how long the room must stay still before it counts as drift. */
  settleMs: number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** One room's verification; runs only between `start()` and `stop()` (while the phase soaks). */
export class SoakVerifier {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private controller: AbortController | null = null;
  private running: Promise<VerifyOutcome> | null = null;
  private eventTypes = new Set<string>();
  private traceIds: string[] = [];
  private reportAfter = 0;

  constructor(
    readonly room: string,
    readonly flag: { orgId: string; phase: Phase },
    private readonly subscription: Pick<Subscription, 'status' | 'lastSeq'>,
    private readonly source: VerifySource,
    private readonly deps: VerifierDeps,
    private readonly now: () => number = Date.now,
  ) {}

  get active(): boolean {
    return this.timer !== null || this.controller !== null;
  }

  /** Remembers what arrived since the last check, for the drift report (nothing outside a soak). */
  note(envelopes: ReadonlyArray<{ event: string; meta?: { traceId?: string } }>): void {
    if (!this.controller) return;
    for (const envelope of envelopes) {
      if (this.eventTypes.size < MAX_EVENT_TYPES) this.eventTypes.add(envelope.event);
      const trace = envelope.meta?.traceId;
      if (trace && !this.traceIds.includes(trace)) {
        this.traceIds.push(trace);
        if (this.traceIds.length > MAX_TRACE_IDS) this.traceIds.shift();
      }
    }
  }

  start(): void {
    if (this.timer || this.controller) return;
    this.controller = new AbortController();
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.controller?.abort(new DOMException('stopped', 'AbortError'));
    this.controller = null;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.check().finally(() => {
        if (this.controller && !this.timer) this.schedule();
      });
    }, jittered(this.deps.intervalMs, this.deps.random));
  }

  /** One verification round now; rounds never overlap. */
  check(): Promise<VerifyOutcome> {
    if (!this.running) this.running = this.round().finally(() => (this.running = null));
    return this.running;
  }

  private async round(): Promise<VerifyOutcome> {
    const idle = this.idle();
    if (idle) return { kind: 'skipped', reason: idle };
    const signal = (this.controller ?? new AbortController()).signal;
    let snapshot: VerifiedSnapshot;
    try {
      snapshot = await this.source.fetch(signal);
    } catch {
      return { kind: 'skipped', reason: 'failed' };
    }
    try {
      const at = await this.catchUp(snapshot.cursor, signal);
      if (typeof at !== 'number') return at;
      const fields = diffStates(this.source.current(), snapshot.state);
      if (fields.length === 0) {
        this.forgetEvents();
        return { kind: 'same', seq: at };
      }
      // An event committed while the snapshot was read may be in its state but not yet in
      // the log: a room that stays still for a moment after `at` rules that out.
      await this.deps.sleep(this.deps.settleMs, signal);
      this.deps.flush();
      if (this.subscription.lastSeq() !== at || this.idle()) return { kind: 'skipped', reason: 'moved-on' };
      const later = await this.deps.roomSeqsAfter(this.room, at, signal);
      if (later === null || later.length > 0) return { kind: 'skipped', reason: 'moved-on' };
      this.deps.flush();
      if (this.subscription.lastSeq() !== at) return { kind: 'skipped', reason: 'moved-on' };
      const drifted = diffStates(this.source.current(), snapshot.state);
      if (drifted.length === 0) return { kind: 'same', seq: at };
      snapshot.repair();
      void this.send(at, drifted);
      return { kind: 'drift', seq: at, fields: drifted };
    } catch {
      return { kind: 'skipped', reason: 'failed' };
    }
  }

  private idle(): 'not-ready' | 'hidden' | 'polling' | null {
    if (this.subscription.status.peek() !== 'ready') return 'not-ready';
    if (!this.deps.visible()) return 'hidden';
    if (this.deps.polling()) return 'polling';
    return null;
  }

  /**
   * Brings the live state to the snapshot's cursor: the seq both reflect, or why not. Cursors
   * are global, a room's seqs a subset: the live side is at the cursor once it has applied
   * every event of the room up to it, and none after it has been logged.
   */
  private async catchUp(cursor: number, signal: AbortSignal): Promise<number | VerifyOutcome> {
    this.deps.flush();
    const live = this.subscription.lastSeq();
    if (this.idle()) return { kind: 'skipped', reason: 'not-ready' };
    if (live > cursor) return { kind: 'skipped', reason: 'behind' };
    if (live === cursor) return live;
    const seqs = await this.deps.roomSeqsAfter(this.room, live, signal);
    if (seqs === null || seqs.some((seq) => seq > cursor)) return { kind: 'skipped', reason: 'moved-on' };
    const target = Math.max(live, ...seqs);
    const deadline = this.now() + this.deps.waitMs;
    for (;;) {
      this.deps.flush();
      const seq = this.subscription.lastSeq();
      if (seq === target) break;
      if (seq > target || this.now() >= deadline) return { kind: 'skipped', reason: seq > target ? 'moved-on' : 'behind' };
      await this.deps.sleep(50, signal);
    }
    if (this.idle()) return { kind: 'skipped', reason: 'not-ready' };
    return target;
  }

  private forgetEvents(): void {
    this.eventTypes = new Set();
    this.traceIds = [];
  }

  private async send(seq: number, fields: string[]): Promise<void> {
    const body: DriftReport = {
      phase: this.flag.phase,
      room: this.room,
      eventTypes: [...this.eventTypes],
      fields,
      traceIds: [...this.traceIds],
      seq,
    };
    this.forgetEvents();
    if (this.now() < this.reportAfter) return;
    try {
      await this.deps.report(this.flag.orgId, body);
    } catch (err) {
      // Telemetry is best effort; a refusal past the limit says when to try again.
      if (err instanceof ApiError && err.status === 429) this.reportAfter = this.now() + (err.retryAfterMs ?? 60_000);
    }
  }
}
