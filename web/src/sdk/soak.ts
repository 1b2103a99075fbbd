import type { Connection } from './connection';
import { DebugSwitches } from './debug';
import { reportDrift } from './domains/flags';
import { sleep } from './errors';
import type { Phase } from './flags';
import type { Http } from './http';
import type { EventBatcher } from './store';
import type { Subscription } from './subscriptions';
import { SoakVerifier, type VerifierDeps, type VerifySource } from './verify';

export interface SoakOptions {
  /** Between two verifications of a room, ±30 %; default 3 minutes. */
  verifyIntervalMs?: number;
  /** How long a verification waits for the live seq to reach a newer snapshot; default 3 s. */
  verifyWaitMs?: number;
  /** How long a room must stay still before a difference counts as drift; default 1 s. */
  verifySettleMs?: number;
  random?: () => number;
  /** Default: the document is visible (always true outside a browser). */
  visible?: () => boolean;
}

const documentVisible = () => {
  const doc = globalThis.document;
  return !doc || doc.visibilityState === 'visible';
};

/** The client's soak verification: one verifier per room whose phase soaks, and the debug switches. */
export class Soak {
  readonly debug = new DebugSwitches();
  private readonly deps: VerifierDeps;

  constructor(
    private readonly http: Http,
    connection: Connection,
    batcher: EventBatcher,
    options: SoakOptions = {},
  ) {
    this.deps = {
      intervalMs: options.verifyIntervalMs ?? 180_000,
      waitMs: options.verifyWaitMs ?? 3_000,
      settleMs: options.verifySettleMs ?? 1_000,
      random: options.random ?? Math.random,
      visible: options.visible ?? documentVisible,
      polling: () => connection.state.peek() !== 'live',
      flush: () => batcher.flush(),
      roomSeqsAfter: (room, after, signal) => this.roomSeqsAfter(room, after, signal),
      report: (orgId, body) => reportDrift(this.http, orgId, body),
      sleep,
    };
  }

  verifier(
    room: string,
    flag: { orgId: string; phase: Phase },
    subscription: Pick<Subscription, 'status' | 'lastSeq'>,
    source: VerifySource,
    polling: () => boolean,
  ): SoakVerifier {
    return new SoakVerifier(room, flag, subscription, source, { ...this.deps, polling: () => polling() || this.deps.polling() });
  }

  private async roomSeqsAfter(room: string, after: number, signal: AbortSignal): Promise<number[] | null> {
    const query = new URLSearchParams({ room, after: String(after), wait: '0' });
    const res = await this.http.get<{ events: Array<{ seq?: number }>; resync?: boolean }>(`/api/events?${query}`, { signal, retry: false });
    if (res.resync) return null;
    return res.events.map((e) => Number(e.seq)).filter((seq) => Number.isFinite(seq));
  }
}
