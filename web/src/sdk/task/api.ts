import type { Http } from '../http';
import { urlOf } from '../rest';
import type { TaskFields } from '../board/types';
import type { Comment, DescriptionConflict, Subtask, TaskCard, TaskSnapshot } from './types';

/** What the server answers a task write: the task as written, and the collision (or merge) if there was one. */
export interface TaskWriteAck {
  task: TaskCard;
  conflict?: DescriptionConflict | null;
}

export interface EditBody {
  changes: Partial<TaskFields> & { status?: string };
  baseRev?: number;
  /** The description the editor started from: the server merges from it. */
  descriptionBase?: string;
  clientId: string;
}

/** Where a subtask goes among its siblings. */
export interface SubtaskPlacement {
  afterSubtaskId?: string;
  beforeSubtaskId?: string;
}

/** The task page's REST calls; the live task takes them as an interface so tests can stand in. */
export interface TaskApi {
  load(taskId: string, signal?: AbortSignal): Promise<TaskSnapshot>;
  edit(taskId: string, body: EditBody): Promise<TaskWriteAck>;
  move(taskId: string, body: { toColumn: string; baseRev?: number; clientId: string }): Promise<TaskWriteAck>;
  addSubtask(taskId: string, body: { title: string; afterSubtaskId?: string; clientId: string }): Promise<{ subtask: Subtask }>;
  updateSubtask(subtaskId: string, body: { title?: string; done?: boolean } & SubtaskPlacement): Promise<{ subtask: Subtask }>;
  removeSubtask(subtaskId: string): Promise<void>;
  addComment(taskId: string, body: { text: string; clientId: string }): Promise<{ comment: Comment }>;
  editComment(commentId: string, text: string): Promise<{ comment: Comment }>;
  removeComment(commentId: string): Promise<void>;
  removeAttachment(attachmentId: string): Promise<void>;
}

/** The calls over `Http`, with the task page contract's bodies. */
export function restTaskApi(http: Http): TaskApi {
  const task = (path: string, taskId: string) => urlOf(path, { task_id: taskId });
  return {
    load: (taskId, signal) => http.request('GET', task('/api/tasks/{task_id}', taskId), { signal }),
    edit: (taskId, body) => http.request('PATCH', task('/api/tasks/{task_id}', taskId), { body }),
    move: (taskId, body) => http.request('POST', task('/api/tasks/{task_id}/move', taskId), { body }),
    // The client id doubles as the idempotency key: a retried add makes one subtask or comment.
    addSubtask: (taskId, body) => http.request('POST', task('/api/tasks/{task_id}/subtasks', taskId), { body, idempotencyKey: body.clientId }),
    updateSubtask: (id, body) => http.request('PATCH', urlOf('/api/subtasks/{id}', { id }), { body }),
    removeSubtask: (id) => http.request('DELETE', urlOf('/api/subtasks/{id}', { id })),
    addComment: (taskId, body) => http.request('POST', task('/api/tasks/{task_id}/comments', taskId), { body, idempotencyKey: body.clientId }),
    editComment: (id, text) => http.request('PATCH', urlOf('/api/comments/{id}', { id }), { body: { text } }),
    removeComment: (id) => http.request('DELETE', urlOf('/api/comments/{id}', { id })),
    removeAttachment: (id) => http.request('DELETE', urlOf('/api/attachments/{id}', { id })),
  };
}

