import { useSignal } from '@preact/signals';
import { progressOf } from '../../sdk/reducers/task';
import type { TaskView } from '../../sdk/task/live';
import type { Subtask } from '../../sdk/task/types';
import type { TaskContext } from './context';

/** The checklist: add, check, rename, reorder with up/down, delete, and a progress bar. */
export function Subtasks({ view, ctx }: { view: TaskView; ctx: TaskContext }) {
  const draft = useSignal('');
  const { done, total } = progressOf(view.subtasks);
  const add = (e: Event) => {
    e.preventDefault();
    const title = draft.value.trim();
    if (!title) return;
    ctx.live.addSubtask(title);
    draft.value = '';
  };
  return (
    <section class="card task-section" data-testid="task-subtasks">
      <div class="task-section-head">
        <h2>Subtasks</h2>
        <span class="muted" data-testid="subtask-progress-label">
          {done}/{total}
        </span>
      </div>
      {total > 0 && (
        <div class="progress" role="progressbar" aria-label="Subtasks done" aria-valuemin={0} aria-valuemax={total} aria-valuenow={done} data-testid="subtask-progress">
          <div class="progress-bar" style={{ width: `${(done / total) * 100}%` }} />
        </div>
      )}
      <ul class="subtask-list">
        {view.subtasks.map((s, i) => (
          <SubtaskRow key={s.id} subtask={s} ctx={ctx} previous={view.subtasks[i - 1]} next={view.subtasks[i + 1]} />
        ))}
      </ul>
      {ctx.canEdit && (
        <form class="subtask-add" onSubmit={add}>
          <input aria-label="New subtask" placeholder="Add a subtask" maxLength={200} value={draft.value} onInput={(e) => (draft.value = e.currentTarget.value)} data-testid="subtask-new" />
          <button type="submit" class="button button-small" data-testid="subtask-add">
            Add
          </button>
        </form>
      )}
    </section>
  );
}

function SubtaskRow({ subtask, ctx, previous, next }: { subtask: Subtask & { pending?: boolean }; ctx: TaskContext; previous?: Subtask; next?: Subtask }) {
  const renaming = useSignal<string | null>(null);
  // A subtask still being created has no id on the server yet.
  const real = !subtask.id.startsWith('tmp_');
  const writable = ctx.canEdit && real;
  const rename = (e: Event) => {
    e.preventDefault();
    const title = renaming.value?.trim();
    renaming.value = null;
    if (title && title !== subtask.title) ctx.live.send('rename a subtask of', (api) => api.updateSubtask(subtask.id, { title }));
  };
  return (
    <li class={subtask.done ? 'subtask subtask-done' : 'subtask'} data-testid="subtask" data-subtask-id={subtask.id} data-pending={subtask.pending ? 'true' : undefined}>
      <input type="checkbox" checked={subtask.done} disabled={!writable} aria-label={`Done: ${subtask.title}`} onChange={(e) => ctx.live.check(subtask.id, e.currentTarget.checked)} data-testid="subtask-check" />
      {renaming.value !== null ? (
        <form class="subtask-rename" onSubmit={rename}>
          <input
            aria-label="Subtask title"
            maxLength={200}
            autoFocus
            value={renaming.value}
            onInput={(e) => (renaming.value = e.currentTarget.value)}
            onKeyDown={(e) => e.key === 'Escape' && (renaming.value = null)}
            onBlur={rename}
            data-testid="subtask-rename-input"
          />
        </form>
      ) : (
        <span class="subtask-title" data-testid="subtask-title" onDblClick={() => writable && (renaming.value = subtask.title)}>
          {subtask.title}
        </span>
      )}
      {writable && renaming.value === null && (
        <span class="subtask-actions">
          <button type="button" class="icon-button" aria-label={`Rename ${subtask.title}`} onClick={() => (renaming.value = subtask.title)} data-testid="subtask-rename">
            ✎
          </button>
          <button
            type="button"
            class="icon-button"
            aria-label={`Move ${subtask.title} up`}
            disabled={!previous}
            onClick={() => previous && ctx.live.send('reorder the subtasks of', (api) => api.updateSubtask(subtask.id, { beforeSubtaskId: previous.id }))}
            data-testid="subtask-up"
          >
            ↑
          </button>
          <button
            type="button"
            class="icon-button"
            aria-label={`Move ${subtask.title} down`}
            disabled={!next}
            onClick={() => next && ctx.live.send('reorder the subtasks of', (api) => api.updateSubtask(subtask.id, { afterSubtaskId: next.id }))}
            data-testid="subtask-down"
          >
            ↓
          </button>
          <button type="button" class="icon-button" aria-label={`Delete ${subtask.title}`} onClick={() => ctx.live.send('delete a subtask of', (api) => api.removeSubtask(subtask.id))} data-testid="subtask-delete">
            ×
          </button>
        </span>
      )}
    </li>
  );
}
