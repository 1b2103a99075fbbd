import { batch, signal, type ReadonlySignal, type Signal } from '@preact/signals';
import type { AnyEnvelope } from './envelope';

/** Receives a room's events in order, a burst at a time. */
export interface BatchTarget {
  applyBatch(events: AnyEnvelope[]): void;
}

export type Scheduler = (flush: () => void) => void;

/**
 * Collects events for ~one frame. A timer, not requestAnimationFrame: rAF stops in
 * background tabs, and events must still be applied there.
 */
export const frameScheduler: Scheduler = (flush) => void setTimeout(flush, 16);

/**
 * Turns a burst of events (a replay, a bulk change) into one store update: every event
 * queued until the next flush is applied inside one signals `batch()`, so each row and
 * each derived view re-renders at most once per burst.
 */
export class EventBatcher {
  private queue: Array<[BatchTarget, AnyEnvelope]> = [];
  private scheduled = false;

  constructor(
    private readonly schedule: Scheduler = frameScheduler,
    private readonly maxQueued = 2_000,
    private readonly onApplyError: (target: BatchTarget, error: unknown) => void = () => undefined,
  ) {}

  push(target: BatchTarget, event: AnyEnvelope): void {
    this.queue.push([target, event]);
    if (this.queue.length >= this.maxQueued) return this.flush();
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  }

  /** Applies everything queued now; also called before a snapshot replaces a store. */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const queue = this.queue;
    this.queue = [];
    const byTarget = new Map<BatchTarget, AnyEnvelope[]>();
    for (const [target, event] of queue) {
      const list = byTarget.get(target);
      if (list) list.push(event);
      else byTarget.set(target, [event]);
    }
    batch(() => {
      for (const [target, events] of byTarget) {
        try {
          target.applyBatch(events);
        } catch (error) {
          this.onApplyError(target, error);
        }
      }
    });
  }

  /** Drops what is queued for one target (its store is about to be replaced). */
  discard(target: BatchTarget): void {
    this.queue = this.queue.filter(([t]) => t !== target);
  }
}

function shallowEqual(a: object, b: object): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((key) => Object.is((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

/**
 * Items keyed by id, each in its own signal, so a view of one row re-renders only when
 * that row changes. `ids` changes only when an item is added or removed.
 */
export class KeyedStore<T extends object> {
  private readonly rows = new Map<string, Signal<T>>();
  private readonly _ids = signal<readonly string[]>([]);
  readonly ids: ReadonlySignal<readonly string[]> = this._ids;
  /** Set once the first snapshot is in. */
  readonly loaded = signal(false);

  get(id: string): ReadonlySignal<T> | undefined {
    return this.rows.get(id);
  }

  has(id: string): boolean {
    return this.rows.has(id);
  }

  peek(id: string): T | undefined {
    return this.rows.get(id)?.peek();
  }

  values(): T[] {
    return this._ids.value.map((id) => this.rows.get(id)!.value);
  }

  upsert(id: string, value: T): void {
    const row = this.rows.get(id);
    if (!row) {
      this.rows.set(id, signal(value));
      this._ids.value = [...this._ids.peek(), id];
    } else if (!shallowEqual(row.peek(), value)) {
      row.value = value;
    }
  }

  /** Merges fields into an existing row; does nothing for an unknown id. */
  patch(id: string, changes: Partial<T>): void {
    const row = this.rows.get(id);
    if (row) this.upsert(id, { ...row.peek(), ...changes });
  }

  remove(id: string): void {
    if (!this.rows.delete(id)) return;
    this._ids.value = this._ids.peek().filter((x) => x !== id);
  }

  /** Replaces everything with a snapshot, touching only the rows that differ. */
  replaceAll(items: Iterable<T>, key: (item: T) => string): void {
    batch(() => {
      const seen = new Set<string>();
      const added: string[] = [];
      for (const item of items) {
        const id = key(item);
        if (seen.has(id)) continue;
        seen.add(id);
        const row = this.rows.get(id);
        if (row) {
          if (!shallowEqual(row.peek(), item)) row.value = item;
        } else {
          this.rows.set(id, signal(item));
          added.push(id);
        }
      }
      const current = this._ids.peek();
      const kept = current.filter((id) => seen.has(id));
      for (const id of current) if (!seen.has(id)) this.rows.delete(id);
      if (added.length || kept.length !== current.length) this._ids.value = [...kept, ...added];
      this.loaded.value = true;
    });
  }

  clear(): void {
    batch(() => {
      this.rows.clear();
      this._ids.value = [];
      this.loaded.value = false;
    });
  }
}
