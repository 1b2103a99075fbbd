import type { AttachmentOut, CommentOut, SubtaskOut, TaskConflict, TaskOut, TaskActivityOut } from '../events.gen';

/**
 * The task page's wire shapes: the generated contract's where it has them, the task page
 * contract's (typed here) where it does not yet.
 */

export type TaskCard = TaskOut;

export type Subtask = SubtaskOut;

/** A comment; the events also carry its id as `commentId`, which a pending one lacks. */
export type Comment = Omit<CommentOut, 'commentId'> & { commentId?: string };

export type Attachment = AttachmentOut;

export type Activity = TaskActivityOut;

export interface TaskTypingWire {
  userId: string;
  field: 'comment' | 'description';
  expiresInMs: number;
}

/** GET /api/tasks/{id}. */
export interface TaskSnapshot {
  task: TaskCard;
  subtasks: Subtask[];
  comments: Comment[];
  attachments: Attachment[];
  activity: Activity[];
  hints?: { typing: TaskTypingWire[] };
  cursor: number;
}

/** A description save the server could not merge: both texts, for the person to combine. */
export type DescriptionConflict = TaskConflict & { merged?: boolean; theirs?: string; mine?: string };

/** The events the task page applies, with their data as the contract states it. */
export interface TaskEventData {
  'task.updated': { taskId: string; changes: Partial<TaskCard>; updatedBy: string; rev: number; updatedAt: string; clientId?: string | null; conflict?: TaskConflict | null };
  'task.subtask.created': { taskId: string; subtask: Subtask; clientId?: string | null };
  'task.subtask.updated': { taskId: string; subtask: Subtask; changes: string[]; updatedBy: string };
  'task.subtask.deleted': { taskId: string; subtaskId: string; deletedBy: string };
  'task.comment.created': { taskId: string; comment: Comment; clientId?: string | null };
  'task.comment.updated': { taskId: string; comment: Comment };
  'task.comment.deleted': { taskId: string; commentId: string; deletedBy: string };
  'task.attachment.added': { taskId: string; attachment: Attachment };
  'task.attachment.removed': { taskId: string; attachmentId: string; removedBy: string };
  'task.activity.created': { taskId: string; activity: Activity };
  'kanban.task.updated': { projectId: string; taskId: string; changes: Partial<TaskCard>; updatedBy: string; rev: number; updatedAt: string };
  'kanban.task.moved': { projectId: string; taskId: string; toColumn: string; rank: string; rev: number; updatedAt: string; completedAt: string | null; movedBy: string };
  'kanban.task.deleted': { projectId: string; taskId: string };
  'project.updated': { project: { id: string; columns: string[]; status?: string } };
}

export type TaskEventName = keyof TaskEventData;

export type AnyTaskEnvelope = { [K in TaskEventName]: { event: K; seq?: number; room?: string; data: TaskEventData[K] } }[TaskEventName];
