import { signal } from '@preact/signals';
import type { BoardData } from '../reducers/board';
import type { Placement, Task, TaskFields } from './types';

/**
 * One of the person's own acknowledged writes, kept with what undoing it needs. Undoing an
 * entry is itself a write, whose acknowledgement yields the entry that redoes it: undo and
 * redo are the same operation on two stacks.
 */
export type HistoryEntry =
  | { kind: 'created'; taskId: string; rev: number; title: string }
  | { kind: 'edited'; taskId: string; rev: number; title: string; before: Partial<TaskFields>; after: Partial<TaskFields> }
  | { kind: 'moved'; taskId: string; rev: number; title: string; from: { column: string; placement: Placement }; toColumn: string }
  | { kind: 'deleted'; task: Task; placement: Placement };

export type Origin = 'user' | 'undo' | 'redo';

const LIMIT = 50;

export class UndoHistory {
  readonly undoable = signal<readonly HistoryEntry[]>([]);
  readonly redoable = signal<readonly HistoryEntry[]>([]);

  /** A write was acknowledged: `entry` undoes it. */
  record(entry: HistoryEntry, origin: Origin): void {
    if (origin === 'undo') {
      this.redoable.value = [...this.redoable.peek(), entry].slice(-LIMIT);
      return;
    }
    this.undoable.value = [...this.undoable.peek(), entry].slice(-LIMIT);
    // A new action of the person's own forks history: what was undone can no longer be redone.
    if (origin === 'user') this.redoable.value = [];
  }

  /** Takes the latest entry (or the given one) off its stack. */
  take(stack: 'undo' | 'redo', entry?: HistoryEntry): HistoryEntry | undefined {
    const list = stack === 'undo' ? this.undoable : this.redoable;
    const items = list.peek();
    const taken = entry ?? items[items.length - 1];
    if (!taken || !items.includes(taken)) return undefined;
    list.value = items.filter((e) => e !== taken);
    return taken;
  }
}

const ALL_FIELDS = ['title', 'description', 'priority', 'assigneeId', 'dueDate', 'status'];

/** The fields of an entry's task that someone else changed after it, and who. */
export function changedSince(data: BoardData, entry: HistoryEntry, me: string): Array<{ field: string; userId: string }> | 'deleted' {
  if (entry.kind === 'deleted') return [];
  if (!data.tasks.has(entry.taskId)) return 'deleted';
  const fields = entry.kind === 'created' ? ALL_FIELDS : entry.kind === 'edited' ? Object.keys(entry.after) : ['status'];
  const writers = data.writers.get(entry.taskId) ?? {};
  const changed: Array<{ field: string; userId: string }> = [];
  for (const field of fields) {
    const writer = writers[field];
    if (writer && writer.userId !== me && writer.rev > entry.rev) changed.push({ field, userId: writer.userId });
  }
  return changed;
}
