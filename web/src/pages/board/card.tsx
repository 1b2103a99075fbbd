import { signal, useSignal } from '@preact/signals';
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import { Link } from '../../app/router';
import { fieldLabel } from '../../sdk/board/notices';
import type { CardTask } from '../../sdk/board/overlay';
import type { EditableField, Placement, Priority, TaskFields } from '../../sdk/board/types';
import { Avatar } from '../../ui/avatar';
import type { BoardContext } from './context';
import type { Direction } from './filters';

const PRIORITIES: readonly Priority[] = ['Low', 'Medium', 'High', 'Urgent'];
const ARROWS: Record<string, Direction> = { ArrowUp: 'up', ArrowDown: 'down', ArrowLeft: 'left', ArrowRight: 'right' };

const today = () => new Date().toISOString().slice(0, 10);

function dueLabel(date: string): string {
  return new Date(`${date}T00:00:00Z`).toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

/** Subtask progress, when the task has any (a server from before subtasks sends no count). */
function subtaskProgress(task: CardTask): { done: number; total: number } | null {
  return task.subtaskCount?.total ? task.subtaskCount : null;
}

/**
 * The card a keyboard move just moved: it takes the focus back as soon as it is drawn at its
 * new place (moving or re-creating a focused element drops the focus).
 */
export const refocus = signal<string | null>(null);

/** The card picked up with Space: plain arrows move it until Space drops it (or Escape puts it back). */
const picked = signal<{ id: string; from: { column: string; placement: Placement } } | null>(null);

/** One card; it reads only its own signals (its task, its hints), so it re-renders alone. */
export function Card({ id, ctx }: { id: string; ctx: BoardContext }) {
  const task = ctx.board.view.card(id)?.value;
  const lock = ctx.board.hints.locks.of(id).value;
  const typing = ctx.board.hints.typing.of(id).value;
  const editing = useSignal(false);
  const element = useRef<HTMLLIElement>(null);
  useLayoutEffect(() => {
    if (refocus.peek() !== id || !element.current) return;
    element.current.focus();
    if (document.activeElement === element.current) refocus.value = null;
  });
  if (!task) return null;
  const locker = lock ? ctx.person(lock.userId) : null;
  const typist = typing ? ctx.person(typing.userId) : null;
  const assignee = task.assigneeId ? ctx.person(task.assigneeId) : null;
  const overdue = task.dueDate !== null && task.completedAt === null && task.dueDate < today();
  const progress = subtaskProgress(task);
  // A card still being created has no id on the server yet; one with a pending move or edit can go on.
  const creating = !ctx.board.editable(id);
  const movable = ctx.canEdit && !creating;
  const holding = picked.value?.id === id;
  const classes = ['board-card', holding && 'board-card-picked', task.pending && 'board-card-pending', lock && 'board-card-locked', typing && 'board-card-typing'].filter(Boolean).join(' ');

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.target !== e.currentTarget || editing.value) return;
    const direction = ARROWS[e.key];
    if (direction && (e.altKey || e.ctrlKey || holding) && movable) {
      e.preventDefault();
      ctx.moveByKeyboard(id, direction);
    } else if (e.key === ' ' && movable) {
      e.preventDefault();
      const from = ctx.board.placementOf(id);
      if (holding || !from) {
        picked.value = null;
        ctx.announce(`Dropped “${task.title}”.`);
      } else {
        picked.value = { id, from };
        ctx.announce(`Picked up “${task.title}”. Arrow keys move it, Space drops it, Escape puts it back.`);
      }
    } else if (e.key === 'Escape' && holding) {
      e.preventDefault();
      const { from } = picked.value!;
      picked.value = null;
      refocus.value = id;
      if (ctx.board.view.locate(id)?.column !== from.column || JSON.stringify(ctx.board.placementOf(id)?.placement) !== JSON.stringify(from.placement)) {
        ctx.board.move(id, from.column, from.placement);
      }
      ctx.announce(`Put “${task.title}” back in ${from.column}.`);
    } else if (e.key === 'Enter' && ctx.canEdit && movable) {
      e.preventDefault();
      editing.value = true;
    } else if (e.key === 'Delete' && ctx.canEdit && movable) {
      e.preventDefault();
      ctx.board.remove(id);
    }
  };

  return (
    <li
      ref={element}
      class={classes}
      data-task-id={id}
      data-testid="board-card"
      data-pending={task.pending ? 'true' : undefined}
      data-creating={creating ? 'true' : undefined}
      data-locked-by={lock?.userId}
      tabIndex={0}
      aria-pressed={holding ? 'true' : undefined}
      onBlur={() => {
        // Focus leaving a picked card (a click elsewhere) drops it; a keyboard move refocuses it.
        if (holding && refocus.peek() !== id) picked.value = null;
      }}
      aria-label={`${task.title}, ${task.priority} priority${assignee ? `, assigned to ${assignee.name}` : ''}`}
      onKeyDown={onKeyDown}
    >
      {editing.value ? (
        <CardEditor task={task} ctx={ctx} onClose={() => (editing.value = false)} />
      ) : (
        <>
          <div class="board-card-head">
            <Link href={`/tasks/${id}`} class="board-card-title" testid="card-title">
              {task.title}
            </Link>
            {ctx.canEdit && movable && (
              <span class="board-card-actions">
                <button type="button" class="icon-button" aria-label={`Edit ${task.title}`} data-testid="card-edit" onClick={() => (editing.value = true)}>
                  ✎
                </button>
                <button type="button" class="icon-button" aria-label={`Delete ${task.title}`} data-testid="card-delete" onClick={() => ctx.board.remove(id)}>
                  ×
                </button>
              </span>
            )}
          </div>
          <div class="board-card-meta">
            <span class={`priority priority-${task.priority.toLowerCase()}`} data-testid="card-priority">
              {task.priority}
            </span>
            {task.dueDate && (
              <span class={overdue ? 'due-chip due-chip-overdue' : 'due-chip'} data-testid="card-due" data-overdue={overdue ? 'true' : undefined} title={overdue ? 'Overdue' : 'Due date'}>
                {overdue ? 'Overdue · ' : ''}
                {dueLabel(task.dueDate)}
              </span>
            )}
            {progress && (
              <span class="subtasks" data-testid="card-subtasks" title="Subtasks done">
                ☑ {progress.done}/{progress.total}
              </span>
            )}
            {task.attachmentCount > 0 && (
              <span class="subtasks" data-testid="card-files" title="Files">
                📎 {task.attachmentCount}
              </span>
            )}
            <span class="spacer" />
            {assignee && (
              <span title={assignee.name} data-testid="card-assignee" data-user-id={task.assigneeId}>
                <Avatar name={assignee.name} url={assignee.avatarUrl} seed={task.assigneeId!} size={22} />
              </span>
            )}
          </div>
        </>
      )}
      {(locker || typist) && (
        <div class="board-card-hint" data-testid={lock ? 'card-lock-hint' : 'card-typing-hint'}>
          <Avatar name={(locker ?? typist)!.name} url={(locker ?? typist)!.avatarUrl} seed={(lock ?? typing)!.userId} size={16} />
          <span>
            {locker ? `${locker.name} is moving this` : `${typist!.name} is editing the ${fieldLabel(typing!.field ?? 'title')}`}
          </span>
        </div>
      )}
    </li>
  );
}

/** Inline edit of a card's title, priority, assignee and due date; says "typing" while a field has focus. */
function CardEditor({ task, ctx, onClose }: { task: CardTask; ctx: BoardContext; onClose: () => void }) {
  const title = useSignal(task.title);
  const priority = useSignal<Priority>(task.priority);
  const assigneeId = useSignal(task.assigneeId ?? '');
  const dueDate = useSignal(task.dueDate ?? '');
  // The version this person is editing: a change someone else makes meanwhile is a conflict.
  const baseRev = useRef(ctx.board.data?.tasks.get(task.id)?.rev);
  const first = useRef<HTMLInputElement>(null);
  const held = useRef<{ release(): void } | null>(null);
  useEffect(() => {
    first.current?.focus();
    first.current?.select();
    return () => held.current?.release();
  }, []);
  const focus = (field: EditableField) => () => {
    held.current?.release();
    const hint = ctx.typing(task.id, field);
    hint.hold();
    held.current = hint;
  };
  const save = (e: Event) => {
    e.preventDefault();
    const changes: Partial<TaskFields> = {
      title: title.value.trim() || task.title,
      priority: priority.value,
      assigneeId: assigneeId.value || null,
      dueDate: dueDate.value || null,
    };
    ctx.board.edit(task.id, changes, 'user', baseRev.current);
    onClose();
  };
  return (
    <form
      class="card-editor"
      data-testid="card-editor"
      onSubmit={save}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          onClose();
        }
      }}
    >
      <input
        ref={first}
        aria-label="Title"
        maxLength={200}
        required
        value={title.value}
        onInput={(e) => (title.value = e.currentTarget.value)}
        onFocus={focus('title')}
        data-testid="edit-title"
      />
      <div class="card-editor-row">
        <select aria-label="Priority" value={priority.value} onChange={(e) => (priority.value = e.currentTarget.value as Priority)} onFocus={focus('priority')} data-testid="edit-priority">
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <select aria-label="Assignee" value={assigneeId.value} onChange={(e) => (assigneeId.value = e.currentTarget.value)} onFocus={focus('assigneeId')} data-testid="edit-assignee">
          <option value="">Unassigned</option>
          {ctx.assignees().map((m) => (
            <option key={m.userId} value={m.userId}>
              {m.name}
            </option>
          ))}
        </select>
        <input type="date" aria-label="Due date" value={dueDate.value} onInput={(e) => (dueDate.value = e.currentTarget.value)} onFocus={focus('dueDate')} data-testid="edit-due" />
      </div>
      <div class="card-editor-row">
        <button type="submit" class="button button-primary button-small" data-testid="edit-save">
          Save
        </button>
        <button type="button" class="button button-ghost button-small" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}
