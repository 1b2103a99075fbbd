import type { AnyBoardEnvelope, BoardSnapshot, Task } from '../board/types';

/**
 * The board's confirmed state: the snapshot with every event after its cursor applied, and
 * nothing else (this tab's pending writes are an overlay on top, see board/overlay.ts). Each
 * change replaces the task's object, so a view can compare by reference.
 */
export interface BoardData {
  /** The project's name, as the board's header shows it. */
  name: string;
  columns: string[];
  /** The project is archived: its tasks are read-only for everyone until it is reopened. */
  archived: boolean;
  tasks: Map<string, Task>;
  /** Client ids of writes whose event has been applied: their pending overlay is done. */
  seenClientIds: Set<string>;
  /** Tasks deleted since the snapshot (a pending write about one of them is moot). */
  gone: Set<string>;
  /** Per task and field, who wrote it last and at which rev: undo checks it, toasts name them. */
  writers: Map<string, Record<string, { userId: string; rev: number }>>;
}

export function boardFromSnapshot(snapshot: BoardSnapshot): BoardData {
  const tasks = new Map<string, Task>();
  for (const column of snapshot.columns) for (const task of column.tasks) tasks.set(task.id, task);
  return { name: snapshot.project.name, columns: [...snapshot.project.columns], archived: snapshot.project.status === 'archived', tasks, seenClientIds: new Set(), gone: new Set(), writers: new Map() };
}

/** Cards sort by rank, then id: ranks are unique per column, the id only breaks a transient tie. */
export function byRank(a: Task, b: Task): number {
  if (a.rank !== b.rank) return a.rank < b.rank ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Each column's task ids in rank order (every known column present, possibly empty). */
export function columnOrder(data: BoardData): Map<string, string[]> {
  const grouped = new Map<string, Task[]>(data.columns.map((c) => [c, []]));
  for (const task of data.tasks.values()) grouped.get(task.status)?.push(task);
  const order = new Map<string, string[]>();
  for (const [column, tasks] of grouped) order.set(column, tasks.sort(byRank).map((t) => t.id));
  return order;
}

function note(data: BoardData, taskId: string, fields: string[], userId: string, rev: number): void {
  const entry = { ...(data.writers.get(taskId) ?? {}) };
  for (const field of fields) entry[field] = { userId, rev };
  data.writers.set(taskId, entry);
}

function rebalance(data: BoardData, ranks: Record<string, string> | undefined): void {
  for (const [taskId, rank] of Object.entries(ranks ?? {})) {
    const task = data.tasks.get(taskId);
    if (task && task.rank !== rank) data.tasks.set(taskId, { ...task, rank });
  }
}

/** Applies one event of the project room to the board (events that are not the board's are ignored). */
export function applyBoardEvent(data: BoardData, envelope: AnyBoardEnvelope): void {
  switch (envelope.event) {
    case 'kanban.task.created': {
      const { task, createdBy, clientId, rebalanced } = envelope.data;
      data.tasks.set(task.id, task);
      data.gone.delete(task.id);
      rebalance(data, rebalanced);
      note(data, task.id, ['title', 'description', 'priority', 'assigneeId', 'dueDate', 'status'], createdBy, task.rev);
      if (clientId) data.seenClientIds.add(clientId);
      return;
    }
    case 'kanban.task.updated': {
      const { taskId, changes, rev, updatedAt, updatedBy, clientId, rebalanced } = envelope.data;
      const task = data.tasks.get(taskId);
      if (task) data.tasks.set(taskId, { ...task, ...(changes as Partial<Task>), rev, updatedAt });
      rebalance(data, rebalanced);
      note(data, taskId, Object.keys(changes), updatedBy, rev);
      if (clientId) data.seenClientIds.add(clientId);
      return;
    }
    case 'kanban.task.moved': {
      const { taskId, toColumn, rank, rev, updatedAt, completedAt, movedBy, clientId, rebalanced } = envelope.data;
      const task = data.tasks.get(taskId);
      if (task) data.tasks.set(taskId, { ...task, status: toColumn, rank, rev, updatedAt, completedAt });
      rebalance(data, rebalanced);
      note(data, taskId, ['status'], movedBy, rev);
      if (clientId) data.seenClientIds.add(clientId);
      return;
    }
    case 'kanban.task.deleted': {
      const { taskId } = envelope.data;
      data.tasks.delete(taskId);
      data.writers.delete(taskId);
      data.gone.add(taskId);
      return;
    }
    case 'project.updated': {
      // A column change moves tasks with it and names them in `tasks`.
      const { project, tasks } = envelope.data;
      data.name = project.name;
      data.columns = [...project.columns];
      data.archived = project.status === 'archived';
      for (const task of tasks ?? []) data.tasks.set(task.id, task);
      return;
    }
  }
}

export function applyBoardEvents(data: BoardData, envelopes: AnyBoardEnvelope[]): void {
  for (const envelope of envelopes) applyBoardEvent(data, envelope);
}

/** Each column's count of cards. */
export function columnCounts(order: Map<string, string[]>): Map<string, number> {
  return new Map([...order].map(([column, ids]) => [column, ids.length]));
}

/** The board's durable state as plain data, for soak verification (hints and pending writes aside). */
export function comparableBoard(data: BoardData | null): unknown {
  if (!data) return null;
  return { name: data.name, columns: data.columns, archived: data.archived, tasks: Object.fromEntries(data.tasks) };
}
