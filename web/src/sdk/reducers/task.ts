import type { Activity, AnyTaskEnvelope, Attachment, Comment, Subtask, TaskCard, TaskSnapshot } from '../task/types';

/**
 * The task page's confirmed state: the snapshot with every event after its cursor applied
 * (from the task's room and its project's room), and nothing else; this tab's pending writes
 * are drawn over it by the live task. Each change replaces the object it touches, so a view
 * can compare by reference.
 */
export interface TaskData {
  task: TaskCard;
  subtasks: Subtask[];
  comments: Comment[];
  attachments: Attachment[];
  activity: Activity[];
  /** The task was deleted since the snapshot: the page says so instead of going stale. */
  gone: boolean;
  /** Client ids of writes whose event has been applied: their pending overlay is done. */
  seenClientIds: Set<string>;
  /** The project's columns, when a `project.updated` said them. */
  columns: string[] | null;
  /** The project's status, when a `project.updated` said it (an archived project's tasks are read-only). */
  projectStatus: string | null;
}

/** The activity list keeps the newest this many, as the snapshot does. */
export const ACTIVITY_KEPT = 50;

export function byRank(a: Subtask, b: Subtask): number {
  if (a.rank !== b.rank) return a.rank < b.rank ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function taskFromSnapshot(snapshot: TaskSnapshot): TaskData {
  return {
    task: snapshot.task,
    subtasks: [...snapshot.subtasks].sort(byRank),
    comments: [...snapshot.comments],
    attachments: [...snapshot.attachments],
    activity: snapshot.activity.slice(0, ACTIVITY_KEPT),
    gone: false,
    seenClientIds: new Set(),
    columns: null,
    projectStatus: null,
  };
}

function upsert<T extends { id: string }>(list: T[], item: T, atStart = false): T[] {
  const at = list.findIndex((x) => x.id === item.id);
  if (at >= 0) return list.map((x, i) => (i === at ? item : x));
  return atStart ? [item, ...list] : [...list, item];
}

/** Both rooms say a field change; only a newer rev (or an unversioned count) is taken. */
function patchTask(data: TaskData, changes: Partial<TaskCard>, rev?: number, updatedAt?: string): void {
  if (rev !== undefined && rev < data.task.rev) return;
  data.task = { ...data.task, ...changes, ...(rev !== undefined ? { rev } : {}), ...(updatedAt ? { updatedAt } : {}) };
}

/** Applies one event; events about other tasks (the project room carries the whole board) are ignored. */
export function applyTaskEvent(data: TaskData, envelope: AnyTaskEnvelope): void {
  const id = data.task.id;
  if ('taskId' in envelope.data && envelope.data.taskId !== id) return;
  switch (envelope.event) {
    case 'task.updated':
    case 'kanban.task.updated': {
      const { changes, rev, updatedAt } = envelope.data;
      patchTask(data, changes, rev, updatedAt);
      if (envelope.event === 'task.updated' && envelope.data.clientId) data.seenClientIds.add(envelope.data.clientId);
      return;
    }
    case 'kanban.task.moved': {
      const { toColumn, rank, rev, updatedAt, completedAt } = envelope.data;
      patchTask(data, { status: toColumn, rank, completedAt }, rev, updatedAt);
      return;
    }
    case 'kanban.task.deleted':
      data.gone = true;
      return;
    case 'project.updated':
      if (envelope.data.project.id !== data.task.projectId) return;
      data.columns = [...envelope.data.project.columns];
      data.projectStatus = envelope.data.project.status ?? data.projectStatus;
      return;
    case 'task.subtask.created':
    case 'task.subtask.updated': {
      data.subtasks = upsert(data.subtasks, envelope.data.subtask).sort(byRank);
      if (envelope.event === 'task.subtask.created' && envelope.data.clientId) data.seenClientIds.add(envelope.data.clientId);
      return;
    }
    case 'task.subtask.deleted':
      data.subtasks = data.subtasks.filter((s) => s.id !== envelope.data.subtaskId);
      return;
    case 'task.comment.created':
    case 'task.comment.updated': {
      data.comments = upsert(data.comments, envelope.data.comment);
      if (envelope.event === 'task.comment.created' && envelope.data.clientId) data.seenClientIds.add(envelope.data.clientId);
      return;
    }
    case 'task.comment.deleted':
      data.comments = data.comments.filter((c) => c.id !== envelope.data.commentId);
      return;
    case 'task.attachment.added':
      data.attachments = upsert(data.attachments, envelope.data.attachment, true);
      return;
    case 'task.attachment.removed':
      data.attachments = data.attachments.filter((a) => a.id !== envelope.data.attachmentId);
      return;
    case 'task.activity.created':
      data.activity = upsert(data.activity, envelope.data.activity, true).slice(0, ACTIVITY_KEPT);
      return;
  }
}

export function applyTaskEvents(data: TaskData, envelopes: AnyTaskEnvelope[]): void {
  for (const envelope of envelopes) applyTaskEvent(data, envelope);
}

/** Subtasks done and in all, for the progress bar. */
export function progressOf(subtasks: readonly Subtask[]): { done: number; total: number } {
  return { done: subtasks.filter((s) => s.done).length, total: subtasks.length };
}

/**
 * The task page's state as its own room keeps it, for soak verification: moves (status,
 * rank, rev) come on the project room, so they are left out, as is the activity feed.
 */
export function comparableTask(data: TaskData | null): unknown {
  if (!data) return null;
  const { status: _status, rank: _rank, rev: _rev, updatedAt: _updatedAt, completedAt: _completedAt, ...task } = data.task;
  return {
    gone: data.gone,
    task,
    subtasks: Object.fromEntries(data.subtasks.map((s) => [s.id, s])),
    comments: Object.fromEntries(data.comments.map(({ commentId: _commentId, ...c }) => [c.id, c])),
    attachments: Object.fromEntries(data.attachments.map((a) => [a.id, a])),
  };
}
