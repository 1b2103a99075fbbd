import { columnOrder, type BoardData } from '../reducers/board';
import type { Placement, Task, TaskFields } from './types';

/**
 * This tab's writes that the board has not confirmed yet, drawn over the confirmed state so
 * they show at once. An op is dropped when the event carrying its client id has been applied,
 * or when the task's confirmed rev has reached the rev its acknowledgement named; a refused
 * op is simply removed, and the board falls back to what the server confirmed.
 */
export type PendingOp =
  | { kind: 'create'; clientId: string; tempId: string; fields: Omit<Task, 'id' | 'rank' | 'rev'>; placement: Placement; ackTaskId?: string; ackRev?: number }
  | { kind: 'edit'; clientId: string; taskId: string; changes: Partial<TaskFields>; ackRev?: number }
  | { kind: 'move'; clientId: string; taskId: string; toColumn: string; placement: Placement; ackRev?: number }
  | { kind: 'delete'; clientId: string; taskId: string };

/** A card as the page shows it: a confirmed task, or one drawn from a pending write. */
export type CardTask = Task & { pending?: boolean };

export interface Projection {
  tasks: Map<string, CardTask>;
  order: Map<string, string[]>;
}

/** Whether the confirmed state already holds what `op` did (so the overlay can go). */
export function settled(op: PendingOp, data: BoardData): boolean {
  if (data.seenClientIds.has(op.clientId)) return true;
  switch (op.kind) {
    case 'create': {
      if (op.ackTaskId === undefined) return false;
      const task = data.tasks.get(op.ackTaskId);
      return data.gone.has(op.ackTaskId) || (task !== undefined && task.rev >= (op.ackRev ?? 0));
    }
    case 'edit':
    case 'move': {
      const task = data.tasks.get(op.taskId);
      if (!task) return true; // deleted meanwhile: nothing left to draw it on
      return op.ackRev !== undefined && task.rev >= op.ackRev;
    }
    case 'delete':
      return !data.tasks.has(op.taskId);
  }
}

function place(ids: string[], taskId: string, placement: Placement): void {
  const before = placement.beforeTaskId ? ids.indexOf(placement.beforeTaskId) : -1;
  const after = placement.afterTaskId ? ids.indexOf(placement.afterTaskId) : -1;
  if (before >= 0) ids.splice(before, 0, taskId);
  else if (after >= 0) ids.splice(after + 1, 0, taskId);
  else ids.push(taskId);
}

function unplace(order: Map<string, string[]>, task: Task): void {
  const ids = order.get(task.status);
  const at = ids?.indexOf(task.id) ?? -1;
  if (ids && at >= 0) ids.splice(at, 1);
}

/** The id a pending create's card has: the server's once acknowledged. */
export function createdId(op: Extract<PendingOp, { kind: 'create' }>): string {
  return op.ackTaskId ?? op.tempId;
}

/** The confirmed board with the pending ops drawn over it, in the order they were made. */
export function project(data: BoardData, ops: readonly PendingOp[]): Projection {
  const order = columnOrder(data);
  if (ops.length === 0) return { tasks: data.tasks, order };
  const tasks = new Map<string, CardTask>(data.tasks);
  for (const op of ops) {
    switch (op.kind) {
      case 'create': {
        const id = createdId(op);
        if (tasks.has(id) || !order.has(op.fields.status)) break;
        tasks.set(id, { ...op.fields, id, rank: '', rev: 0, pending: true });
        place(order.get(op.fields.status)!, id, op.placement);
        break;
      }
      case 'edit': {
        const task = tasks.get(op.taskId);
        if (task) tasks.set(op.taskId, { ...task, ...op.changes, pending: true });
        break;
      }
      case 'move': {
        const task = tasks.get(op.taskId);
        const target = order.get(op.toColumn);
        if (!task || !target) break;
        unplace(order, task);
        tasks.set(op.taskId, { ...task, status: op.toColumn, pending: true });
        place(target, op.taskId, op.placement);
        break;
      }
      case 'delete': {
        const task = tasks.get(op.taskId);
        if (!task) break;
        unplace(order, task);
        tasks.delete(op.taskId);
        break;
      }
    }
  }
  return { tasks, order };
}
