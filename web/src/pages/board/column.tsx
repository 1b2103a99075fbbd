import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import Sortable from 'sortablejs';
import type { HeldHint } from '../../sdk/board/hints';
import { Card } from './card';
import type { BoardContext } from './context';
import { filtersActive, matches } from './filters';

/** The card ids a column shows under the current filters (all of them when none is set). */
export function shownIds(ctx: BoardContext, column: string): readonly string[] {
  const ids = ctx.board.view.ids(column).value;
  const filters = ctx.filters();
  if (!filtersActive(filters)) return ids;
  return ids.filter((id) => {
    const task = ctx.board.view.card(id)?.value;
    return task !== undefined && matches(task, filters);
  });
}

/**
 * Wires SortableJS to a column's list. Sortable moves the dragged element itself; the drop is
 * read from the DOM, the element is put back where it was, and the move goes through the
 * board, so Preact stays the only one rendering the list (the optimistic move redraws it at
 * once).
 */
function useSortable(list: { current: HTMLUListElement | null }, column: string, ctx: BoardContext) {
  useEffect(() => {
    const el = list.current;
    if (!el || !ctx.canEdit) return;
    let held: HeldHint | null = null;
    // The rev the card had when picked up: a move by someone else during the drag is a conflict.
    let pickedRev: number | undefined;
    const sortable = Sortable.create(el, {
      group: 'board',
      animation: 120,
      // Pointer events rather than HTML5 drag and drop: the same on touch screens, and smooth feedback.
      forceFallback: true,
      // The floating copy lives in <body>: not clipped by the column, and not among the list's children.
      fallbackOnBody: true,
      fallbackTolerance: 4,
      delayOnTouchOnly: true,
      delay: 120,
      scroll: true,
      bubbleScroll: true,
      scrollSensitivity: 80,
      // Not a card still being created, nor one someone else is dragging right now.
      filter: '[data-creating], .board-card-locked, input, select, button, textarea, form',
      preventOnFilter: false,
      draggable: '.board-card',
      ghostClass: 'board-card-ghost',
      chosenClass: 'board-card-chosen',
      onStart(evt) {
        const taskId = evt.item.dataset.taskId;
        if (!taskId) return;
        pickedRev = ctx.board.data?.tasks.get(taskId)?.rev;
        held = ctx.lock(taskId);
        held.hold();
      },
      onEnd(evt) {
        held?.release();
        held = null;
        const { item, from, to, oldIndex } = evt;
        const taskId = item.dataset.taskId;
        const toColumn = to.dataset.column;
        const next = (item.nextElementSibling as HTMLElement | null)?.dataset.taskId;
        const previous = (item.previousElementSibling as HTMLElement | null)?.dataset.taskId;
        // Put the element back: the board's own render moves it.
        item.remove();
        from.insertBefore(item, from.children[oldIndex ?? 0] ?? null);
        if (!taskId || !toColumn || (from === to && evt.oldIndex === evt.newIndex)) return;
        ctx.board.move(taskId, toColumn, next ? { beforeTaskId: next } : previous ? { afterTaskId: previous } : {}, 'user', pickedRev);
      },
    });
    return () => sortable.destroy();
  }, [list, column, ctx]);
}

export function Column({ name, ctx }: { name: string; ctx: BoardContext }) {
  const total = ctx.board.view.ids(name).value.length;
  const shown = shownIds(ctx, name);
  const list = useRef<HTMLUListElement>(null);
  const adding = useSignal<'top' | 'bottom' | null>(null);
  useSortable(list, name, ctx);
  const filtered = shown.length !== total;
  return (
    <section class="board-column" data-testid="board-column" data-column={name} aria-label={`${name}: ${total} cards`}>
      <header class="board-column-head">
        <h2>{name}</h2>
        <span class="count" data-testid="column-count" data-count={total}>
          {filtered ? `${shown.length} of ${total}` : total}
        </span>
        <span class="spacer" />
        {ctx.canEdit && (
          <button type="button" class="icon-button" aria-label={`Add a card at the top of ${name}`} data-testid="add-top" onClick={() => (adding.value = 'top')}>
            +
          </button>
        )}
      </header>
      {adding.value === 'top' && <NewCard ctx={ctx} column={name} at="top" onClose={() => (adding.value = null)} />}
      <ul class="board-cards" ref={list} data-column={name} data-testid="board-cards">
        {shown.map((id) => (
          <Card key={id} id={id} ctx={ctx} />
        ))}
      </ul>
      {adding.value === 'bottom' && <NewCard ctx={ctx} column={name} at="bottom" onClose={() => (adding.value = null)} />}
      {ctx.canEdit && adding.value !== 'bottom' && (
        <button type="button" class="button button-ghost board-add" data-testid="add-bottom" onClick={() => (adding.value = 'bottom')}>
          + Add a card
        </button>
      )}
    </section>
  );
}

/** Inline create: the card shows at once (optimistic) and the form stays open for the next one. */
function NewCard({ ctx, column, at, onClose }: { ctx: BoardContext; column: string; at: 'top' | 'bottom'; onClose: () => void }) {
  const title = useSignal('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <form
      class="board-new-card"
      data-testid="new-card"
      onSubmit={(e) => {
        e.preventDefault();
        const text = title.value.trim();
        if (!text) return;
        const ids = ctx.board.view.ids(column).peek();
        const first = ids.find((id) => ctx.board.editable(id));
        ctx.board.create(column, { title: text }, at === 'top' && first ? { beforeTaskId: first } : {});
        title.value = '';
      }}
      onKeyDown={(e) => e.key === 'Escape' && onClose()}
    >
      <input
        ref={input}
        aria-label={`New card in ${column}`}
        placeholder="Card title"
        maxLength={200}
        value={title.value}
        onInput={(e) => (title.value = e.currentTarget.value)}
        data-testid="new-card-title"
      />
      <div class="card-editor-row">
        <button type="submit" class="button button-primary button-small" data-testid="new-card-submit">
          Add
        </button>
        <button type="button" class="button button-ghost button-small" onClick={onClose}>
          Done
        </button>
      </div>
    </form>
  );
}
