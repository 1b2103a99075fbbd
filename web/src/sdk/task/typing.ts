import { computed, signal, type ReadonlySignal } from '@preact/signals';
import { HintStore } from '../board/hints';

export type TypingField = 'comment' | 'description';

export interface TypingHint {
  userId: string;
  field: TypingField;
}

/**
 * Who else is typing on this task, and where: the board's hint store keyed by person and
 * field, so several people show at once and each hint lapses by itself when not refreshed.
 */
export class TaskTyping {
  private readonly store: HintStore;
  private readonly keys = signal<readonly string[]>([]);
  readonly active: ReadonlySignal<TypingHint[]>;

  constructor(me: string) {
    this.store = new HintStore(me);
    this.active = computed(() =>
      this.keys.value.flatMap((key) => {
        const hint = this.store.of(key).value;
        return hint ? [{ userId: hint.userId, field: hint.field as TypingField }] : [];
      }),
    );
  }

  receive(userId: string, field: TypingField, typing: boolean, expiresInMs?: number): void {
    const key = `${field}:${userId}`;
    if (!this.keys.peek().includes(key)) this.keys.value = [...this.keys.peek(), key];
    this.store.receive(key, userId, typing, expiresInMs, field);
  }

  load(hints: Array<{ userId: string; field: TypingField; expiresInMs: number }>): void {
    for (const key of this.keys.peek()) this.store.clear(key);
    for (const h of hints) this.receive(h.userId, h.field, true, h.expiresInMs);
  }

  clear(): void {
    for (const key of this.keys.peek()) this.store.clear(key);
  }

  dispose(): void {
    this.store.dispose();
  }
}

/** "Grace Hopper is typing a comment…", "Ada and Grace are editing the description…". */
export function typingLine(hints: readonly TypingHint[], field: TypingField, nameOf: (userId: string) => string): string | null {
  const names = hints.filter((h) => h.field === field).map((h) => nameOf(h.userId));
  if (names.length === 0) return null;
  const who = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  const verb = names.length === 1 ? 'is' : 'are';
  return field === 'comment' ? `${who} ${verb} typing a comment…` : `${who} ${verb} editing the description…`;
}
