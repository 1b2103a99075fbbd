import { signal, type ReadonlySignal } from '@preact/signals';
import { createStore, get, set, type UseStore } from 'idb-keyval';
import { backoff, isTransient, type ErrorBus } from './errors';

export interface QueuedCommand<P = unknown> {
  /** The client's id for the command; the server dedupes on it, so a resend is harmless. */
  clientId: string;
  kind: string;
  payload: P;
  enqueuedAt: number;
}

/** Sends one command; throws on failure (a transient error keeps it queued). */
export type CommandSender = (command: QueuedCommand) => Promise<unknown>;

export function newClientId(prefix = 'cl_'): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return prefix + c.randomUUID();
  // randomUUID exists only in secure contexts (https or localhost).
  const bytes = new Uint8Array(16);
  c.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

let defaultStore: UseStore | null = null;
const idbStore = () => (defaultStore ??= createStore('tandem', 'offline-queue'));

/**
 * Idempotent outbound commands that must survive being offline and a reload: kept in
 * IndexedDB (one list per user) and sent strictly in order, one at a time. Transient
 * failures stop the flush and retry later; a permanent refusal drops the command and
 * raises the global error event.
 */
export class OfflineQueue {
  private readonly _pending = signal<readonly QueuedCommand[]>([]);
  readonly pending: ReadonlySignal<readonly QueuedCommand[]> = this._pending;
  private readonly senders = new Map<string, CommandSender>();
  private readonly key: string;
  private loaded: Promise<void> | null = null;
  private flushing: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly delays = backoff(1_000, 30_000);
  /** Whether a flush may be tried now (e.g. the server is reachable). */
  canSend: () => boolean = () => true;

  constructor(
    scope: string,
    private readonly errors: ErrorBus,
    private readonly store: UseStore = idbStore(),
  ) {
    this.key = `queue:${scope}`;
  }

  register(kind: string, sender: CommandSender): void {
    this.senders.set(kind, sender);
  }

  /** Reads what an earlier page load left behind. */
  load(): Promise<void> {
    this.loaded ??= get<QueuedCommand[]>(this.key, this.store).then((saved) => {
      const known = new Set(this._pending.peek().map((c) => c.clientId));
      this._pending.value = [...(saved ?? []).filter((c) => !known.has(c.clientId)), ...this._pending.peek()];
    });
    return this.loaded;
  }

  async enqueue<P>(kind: string, payload: P, clientId = newClientId()): Promise<QueuedCommand<P>> {
    await this.load();
    const command: QueuedCommand<P> = { clientId, kind, payload, enqueuedAt: Date.now() };
    if (!this._pending.peek().some((c) => c.clientId === clientId)) {
      this._pending.value = [...this._pending.peek(), command];
      await this.persist();
    }
    void this.flush();
    return command;
  }

  /** Sends queued commands in order; resolves when the queue is empty or a send must wait. */
  flush(): Promise<void> {
    // One drain at a time; a flush asked for during a drain runs once right after it.
    if (this.flushing) {
      this.next ??= this.flushing.then(() => {
        this.next = null;
        return this.flush();
      });
      return this.next;
    }
    this.flushing = this.drain().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  dispose(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private async drain(): Promise<void> {
    await this.load();
    while (this._pending.peek().length > 0) {
      if (!this.canSend()) return;
      const command = this._pending.peek()[0];
      const sender = this.senders.get(command.kind);
      if (!sender) return; // its page has not registered yet; keep it for later
      try {
        await sender(command);
        this.delays.reset();
      } catch (err) {
        if (isTransient(err)) {
          this.scheduleRetry(err);
          return;
        }
        this.errors.report(err, `queue:${command.kind}`);
      }
      this._pending.value = this._pending.peek().filter((c) => c.clientId !== command.clientId);
      await this.persist();
    }
  }

  private scheduleRetry(err: unknown): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.flush();
    }, this.delays.next(err));
  }

  private persist(): Promise<void> {
    return set(this.key, [...this._pending.peek()], this.store);
  }
}
