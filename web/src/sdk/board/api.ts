import type { Http } from '../http';
import { urlOf } from '../rest';
import type { BoardSnapshot, EditConflict, Placement, Task, TaskFields } from './types';

/** What the server answers a board write: the task as written, and the collision if there was one. */
export interface WriteAck {
  task: Task;
  conflict?: EditConflict | null;
}

export interface CreateBody extends Partial<TaskFields>, Placement {
  title: string;
  status: string;
  clientId: string;
}

export interface MoveBody extends Placement {
  toColumn: string;
  baseRev?: number;
  clientId: string;
}

/** The board's REST calls; the live board takes them as an interface so tests can stand in. */
export interface BoardApi {
  load(projectId: string, signal?: AbortSignal): Promise<BoardSnapshot>;
  create(projectId: string, body: CreateBody): Promise<WriteAck>;
  edit(taskId: string, body: { changes: Partial<TaskFields>; baseRev?: number; clientId: string }): Promise<WriteAck>;
  move(taskId: string, body: MoveBody): Promise<WriteAck>;
  remove(taskId: string): Promise<void>;
}

/** Drops placement keys a server may refuse as null, and never sends both neighbours. */
function placementOf(p: Placement): Placement {
  if (p.beforeTaskId) return { beforeTaskId: p.beforeTaskId };
  if (p.afterTaskId) return { afterTaskId: p.afterTaskId };
  return {};
}

/** The board's calls over `Http`, with the board contract's bodies (clientId, placement, baseRev). */
export function restBoardApi(http: Http): BoardApi {
  return {
    load: (projectId, signal) => http.request('GET', urlOf('/api/projects/{project_id}/board', { project_id: projectId }), { signal }),
    create: async (projectId, body) => {
      const { beforeTaskId, afterTaskId, ...rest } = body;
      const res = await http.request<{ task: Task }>('POST', urlOf('/api/projects/{project_id}/tasks', { project_id: projectId }), {
        body: { ...rest, ...placementOf({ beforeTaskId, afterTaskId }) },
        // The client id doubles as the idempotency key: a retried create makes one card.
        idempotencyKey: body.clientId,
      });
      return { task: res.task };
    },
    edit: (taskId, body) => http.request<WriteAck>('PATCH', urlOf('/api/tasks/{task_id}', { task_id: taskId }), { body }),
    move: (taskId, body) => {
      const { beforeTaskId, afterTaskId, ...rest } = body;
      return http.request<WriteAck>('POST', urlOf('/api/tasks/{task_id}/move', { task_id: taskId }), {
        body: { ...rest, ...placementOf({ beforeTaskId, afterTaskId }) },
      });
    },
    remove: (taskId) => http.request('DELETE', urlOf('/api/tasks/{task_id}', { task_id: taskId })),
  };
}
