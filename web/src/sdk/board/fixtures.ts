// Small factories for the board's tests: tasks, snapshots and the kanban events.
import type { AnyBoardEnvelope, BoardSnapshot, EditConflict, Task } from './types';

export const COLUMNS = ['To Do', 'In Progress', 'Review', 'Done'];

export function task(id: string, status: string, rank: string, overrides: Partial<Task> = {}): Task {
  return {
    id,
    projectId: 'p_1',
    title: `Task ${id}`,
    description: '',
    status,
    subtaskCount: { done: 0, total: 0 },
    attachmentCount: 0,
    rank,
    priority: 'Medium',
    assigneeId: null,
    dueDate: null,
    rev: 1,
    createdBy: 'u_me',
    createdAt: '2026-12-01T00:00:00.000Z',
    updatedAt: '2026-12-01T00:00:00.000Z',
    completedAt: null,
    ...overrides,
  };
}

export function snapshot(tasks: Task[], cursor = 10, hints?: BoardSnapshot['hints']): BoardSnapshot {
  return {
    project: {
      id: 'p_1',
      orgId: 'org_1',
      name: 'Rover',
      description: '',
      status: 'active',
      startDate: null,
      dueDate: null,
      columns: [...COLUMNS],
      createdAt: '2026-12-01T00:00:00.000Z',
      createdBy: 'u_me',
      updatedAt: '2026-12-01T00:00:00.000Z',
    } as BoardSnapshot['project'],
    columns: COLUMNS.map((name) => {
      const mine = tasks.filter((t) => t.status === name);
      return { name, count: mine.length, tasks: mine };
    }),
    cursor,
    ...(hints ? { hints } : {}),
  };
}

let seq = 100;
const envelope = (event: AnyBoardEnvelope['event'], data: object): AnyBoardEnvelope =>
  ({ event, seq: ++seq, room: 'project:p_1', data }) as AnyBoardEnvelope;

export const created = (t: Task, by = 'u_other', clientId: string | null = null): AnyBoardEnvelope =>
  envelope('kanban.task.created', { projectId: 'p_1', task: t, createdBy: by, clientId });

export const updated = (
  taskId: string,
  changes: Partial<Task>,
  rev: number,
  by = 'u_other',
  extra: { clientId?: string | null; conflict?: EditConflict | null; rebalanced?: Record<string, string> } = {},
): AnyBoardEnvelope =>
  envelope('kanban.task.updated', { projectId: 'p_1', taskId, changes, updatedBy: by, rev, updatedAt: '2026-12-02T00:00:00.000Z', ...extra });

export const moved = (
  taskId: string,
  fromColumn: string,
  toColumn: string,
  rank: string,
  rev: number,
  by = 'u_other',
  extra: { clientId?: string | null; conflict?: EditConflict | null; rebalanced?: Record<string, string> } = {},
): AnyBoardEnvelope =>
  envelope('kanban.task.moved', {
    projectId: 'p_1',
    taskId,
    fromColumn,
    toColumn,
    position: 0,
    movedBy: by,
    rank,
    rev,
    updatedAt: '2026-12-02T00:00:00.000Z',
    completedAt: null,
    ...extra,
  });

export const deleted = (taskId: string, status: string, by = 'u_other'): AnyBoardEnvelope =>
  envelope('kanban.task.deleted', { projectId: 'p_1', taskId, status, deletedBy: by });
