import { signal, type ReadonlySignal, type Signal } from '@preact/signals';
import type { LockHintWire, TypingHintWire } from './types';

export interface Hint {
  userId: string;
  /** For typing hints: the field being edited. */
  field: string | null;
}

/** Hints last this long when the sender did not say (the contract's default). */
export const HINT_TTL_MS = 5_000;

/**
 * Ephemeral "someone is dragging / editing this card" hints, one signal per task. Each hint
 * expires by itself `expiresInMs` after its last refresh, so a sender that vanished (a closed
 * tab, a dead server instance) cannot leave one behind. The person's own hints are ignored.
 */
export class HintStore {
  private readonly hints = new Map<string, Signal<Hint | null>>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private readonly me: string) {}

  of(taskId: string): ReadonlySignal<Hint | null> {
    let hint = this.hints.get(taskId);
    if (!hint) {
      hint = signal<Hint | null>(null);
      this.hints.set(taskId, hint);
    }
    return hint;
  }

  /** A hint arrived (`on` false: its sender stopped). */
  receive(taskId: string, userId: string, on: boolean, expiresInMs = HINT_TTL_MS, field: string | null = null): void {
    if (userId === this.me) return;
    const hint = this.of(taskId) as Signal<Hint | null>;
    const current = hint.peek();
    if (!on) {
      // Only its own sender clears a hint; a stale "off" from someone else leaves another's hint.
      if (current?.userId === userId) this.clear(taskId);
      return;
    }
    if (current?.userId !== userId || current.field !== field) hint.value = { userId, field };
    const timer = this.timers.get(taskId);
    if (timer) clearTimeout(timer);
    this.timers.set(
      taskId,
      setTimeout(() => this.clear(taskId), Math.max(0, expiresInMs)),
    );
  }

  /** Replaces everything with the snapshot's hints. */
  load(hints: Array<LockHintWire | TypingHintWire>): void {
    for (const taskId of [...this.timers.keys()]) this.clear(taskId);
    for (const h of hints) this.receive(h.taskId, h.userId, true, h.expiresInMs, 'field' in h ? h.field : null);
  }

  clear(taskId: string): void {
    const timer = this.timers.get(taskId);
    if (timer) clearTimeout(timer);
    this.timers.delete(taskId);
    const hint = this.hints.get(taskId);
    if (hint && hint.peek() !== null) hint.value = null;
  }

  dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}

type Send = (on: boolean) => Promise<unknown>;

/**
 * Holds one outgoing hint: sent now, repeated every `everyMs` while held (the server and
 * the other clients drop it otherwise), and sent off once on release.
 */
export class HeldHint {
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly send: Send,
    private readonly everyMs = 2_000,
  ) {}

  get held(): boolean {
    return this.timer !== null;
  }

  hold(): void {
    if (this.timer) return;
    void this.send(true).catch(() => undefined);
    this.timer = setInterval(() => void this.send(true).catch(() => undefined), this.everyMs);
  }

  release(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    void this.send(false).catch(() => undefined);
  }
}
