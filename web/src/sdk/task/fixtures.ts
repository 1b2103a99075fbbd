import type { Activity, Attachment, Comment, Subtask, TaskCard, TaskSnapshot } from './types';

/** Small builders of task-page wire objects for the SDK's tests. */

const AT = '2026-12-01T10:00:00Z';

export function card(overrides: Partial<TaskCard> = {}): TaskCard {
  return {
    id: 't_1',
    projectId: 'p_1',
    title: 'Write the launch post',
    description: 'First line\nSecond line',
    status: 'To Do',
    rank: 'm',
    priority: 'Medium',
    assigneeId: null,
    dueDate: null,
    rev: 1,
    createdBy: 'u_me',
    createdAt: AT,
    updatedAt: AT,
    completedAt: null,
    subtaskCount: { done: 0, total: 0 },
    attachmentCount: 0,
    ...overrides,
  };
}

export const subtask = (id: string, rank: string, overrides: Partial<Subtask> = {}): Subtask => ({
  id,
  taskId: 't_1',
  title: `Step ${id}`,
  done: false,
  rank,
  createdBy: 'u_me',
  createdAt: AT,
  updatedAt: AT,
  ...overrides,
});

export const comment = (id: string, text: string, authorId = 'u_grace'): Comment => ({ id, taskId: 't_1', authorId, text, createdAt: AT, editedAt: null });

export const attachment = (id: string, filename: string): Attachment => ({
  id,
  taskId: 't_1',
  filename,
  contentType: 'text/plain',
  size: 12,
  uploadedBy: 'u_grace',
  createdAt: AT,
  thumbnailUrl: null,
  url: `/api/attachments/${id}`,
});

export const activity = (id: string, detail: string): Activity => ({ id, taskId: 't_1', actorId: 'u_grace', verb: 'updated', detail, createdAt: AT });

export function taskSnapshot(overrides: Partial<TaskSnapshot> = {}): TaskSnapshot {
  return { task: card(), subtasks: [], comments: [], attachments: [], activity: [], hints: { typing: [] }, cursor: 10, ...overrides };
}
