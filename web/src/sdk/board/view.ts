import { batch, signal, type ReadonlySignal, type Signal } from '@preact/signals';
import type { CardTask, Projection } from './overlay';

function sameCard(a: CardTask, b: CardTask): boolean {
  if (a === b) return true;
  const keys = Object.keys(a) as Array<keyof CardTask>;
  return keys.length === Object.keys(b).length && keys.every((k) => Object.is(a[k], b[k]));
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/**
 * What the board page renders, one signal per card and one per column's list of ids, updated
 * from each projection by difference: a card re-renders only when its own fields changed, a
 * column (and its count) only when its ids did.
 */
export class BoardView {
  private readonly cards = new Map<string, Signal<CardTask>>();
  private readonly lists = new Map<string, Signal<readonly string[]>>();
  private readonly _columns = signal<readonly string[]>([]);
  readonly columns: ReadonlySignal<readonly string[]> = this._columns;
  readonly loaded = signal(false);
  /** The project is archived: the page offers no writes. */
  readonly archived = signal(false);
  /** The project's name, live. */
  readonly name = signal('');

  card(id: string): ReadonlySignal<CardTask> | undefined {
    return this.cards.get(id);
  }

  peekCard(id: string): CardTask | undefined {
    return this.cards.get(id)?.peek();
  }

  /** A column's card ids in order (an empty list for an unknown column). */
  ids(column: string): ReadonlySignal<readonly string[]> {
    let list = this.lists.get(column);
    if (!list) {
      list = signal<readonly string[]>([]);
      this.lists.set(column, list);
    }
    return list;
  }

  /** The column a card is in now, and its index there. */
  locate(taskId: string): { column: string; index: number } | null {
    const task = this.cards.get(taskId)?.peek();
    if (!task) return null;
    const index = this.ids(task.status).peek().indexOf(taskId);
    return index < 0 ? null : { column: task.status, index };
  }

  update(next: Projection, columns: readonly string[], archived = false, name?: string): void {
    batch(() => {
      this.archived.value = archived;
      if (name !== undefined) this.name.value = name;
      for (const [id, task] of next.tasks) {
        const card = this.cards.get(id);
        if (!card) this.cards.set(id, signal(task));
        else if (!sameCard(card.peek(), task)) card.value = task;
      }
      for (const id of [...this.cards.keys()]) if (!next.tasks.has(id)) this.cards.delete(id);
      if (!sameIds(this._columns.peek(), columns)) this._columns.value = [...columns];
      for (const column of columns) {
        const list = this.ids(column) as Signal<readonly string[]>;
        const ids = next.order.get(column) ?? [];
        if (!sameIds(list.peek(), ids)) list.value = ids;
      }
      this.loaded.value = true;
    });
  }
}
