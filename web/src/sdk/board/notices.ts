import type { EditConflict } from './types';

/** Something the person should be told about the board: the page shows it as a toast. */
export interface BoardNotice {
  kind: 'refused' | 'conflict' | 'undo-stale' | 'deleted' | 'info';
  message: string;
  /** An action offered with the notice (the undo of a delete). */
  action?: { label: string; run: () => void };
}

const LABELS: Record<string, string> = {
  title: 'title',
  description: 'description',
  priority: 'priority',
  assigneeId: 'assignee',
  dueDate: 'due date',
  status: 'column',
  rank: 'position',
};

export const fieldLabel = (field: string): string => LABELS[field] ?? field;

function list(items: string[]): string {
  const unique = [...new Set(items)];
  if (unique.length <= 1) return unique[0] ?? '';
  return `${unique.slice(0, -1).join(', ')} and ${unique[unique.length - 1]}`;
}

/** Groups `with` by person: "Grace Hopper changed the title and priority". */
function whoChanged(entries: Array<{ field: string; userId: string | null }>, nameOf: (userId: string) => string): string {
  const byPerson = new Map<string | null, string[]>();
  for (const { field, userId } of entries) byPerson.set(userId, [...(byPerson.get(userId) ?? []), fieldLabel(field)]);
  return [...byPerson].map(([userId, fields]) => `${userId ? nameOf(userId) : 'Someone else'} changed the ${list(fields)}`).join('; ');
}

/** Told to the writer: their write collided with someone else's and won (last write wins). */
export function conflictForWriter(title: string, conflict: EditConflict, nameOf: (userId: string) => string): string {
  const who = conflict.with?.length ? whoChanged(conflict.with, nameOf) : `Someone else changed the ${list(conflict.fields.map(fieldLabel))}`;
  return `${who} of “${title}” just before you: your change was kept.`;
}

/** Told to the other person: their change was just overwritten by the writer's. */
export function conflictForOther(title: string, writer: string, fields: string[]): string {
  return `${writer} changed the ${list(fields.map(fieldLabel))} of “${title}” right after you: their change is shown.`;
}

export function undoStale(title: string, changed: Array<{ field: string; userId: string }> | 'deleted', nameOf: (userId: string) => string): string {
  if (changed === 'deleted') return `“${title}” was deleted since: nothing to undo.`;
  return `${whoChanged(changed, nameOf)} of “${title}” since: undo left it as it is.`;
}

export function refused(verb: string, title: string, reason: string): string {
  return `Could not ${verb} “${title}”: ${reason.replace(/\.$/, '')}.`;
}
