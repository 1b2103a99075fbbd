import type { Placement, Priority, Task } from '../../sdk/board/types';

/** The board's filters, as kept in the URL query (`assignee`, `priority`, `q`). */
export interface BoardFilters {
  /** A user id, or 'none' for unassigned cards. */
  assignee: string | null;
  priority: Priority | null;
  text: string;
}

const PRIORITIES: readonly Priority[] = ['Low', 'Medium', 'High', 'Urgent'];

export function filtersFrom(search: string): BoardFilters {
  const query = new URLSearchParams(search);
  const priority = query.get('priority');
  return {
    assignee: query.get('assignee') || null,
    priority: PRIORITIES.includes(priority as Priority) ? (priority as Priority) : null,
    text: query.get('q') ?? '',
  };
}

export function filtersActive(f: BoardFilters): boolean {
  return f.assignee !== null || f.priority !== null || f.text.trim() !== '';
}

export function matches(task: Pick<Task, 'title' | 'assigneeId' | 'priority'>, f: BoardFilters): boolean {
  if (f.assignee !== null && (f.assignee === 'none' ? task.assigneeId !== null : task.assigneeId !== f.assignee)) return false;
  if (f.priority !== null && task.priority !== f.priority) return false;
  const text = f.text.trim().toLowerCase();
  return text === '' || task.title.toLowerCase().includes(text);
}

export type Direction = 'up' | 'down' | 'left' | 'right';

/**
 * Where a keyboard move takes a card: up or down one place among the cards shown in its column,
 * or into the neighbouring column at the same height. Null when there is nowhere to go.
 */
export function keyboardTarget(
  columns: readonly string[],
  shown: (column: string) => readonly string[],
  taskId: string,
  column: string,
  direction: Direction,
): { column: string; placement: Placement; index: number } | null {
  const ids = shown(column);
  const at = ids.indexOf(taskId);
  if (at < 0) return null;
  if (direction === 'up' || direction === 'down') {
    const rest = ids.filter((id) => id !== taskId);
    const index = direction === 'up' ? at - 1 : at + 1;
    if (index < 0 || index > rest.length) return null;
    return { column, placement: placeAt(rest, index), index };
  }
  const c = columns.indexOf(column) + (direction === 'left' ? -1 : 1);
  if (c < 0 || c >= columns.length) return null;
  const target = shown(columns[c]);
  const index = Math.min(at, target.length);
  return { column: columns[c], placement: placeAt(target, index), index };
}

/** The placement that puts a card at `index` of `ids` (the card itself not among them). */
export function placeAt(ids: readonly string[], index: number): Placement {
  if (index < ids.length) return { beforeTaskId: ids[index] };
  if (ids.length > 0) return { afterTaskId: ids[ids.length - 1] };
  return {};
}
