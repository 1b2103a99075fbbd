import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TandemClient } from '../client';
import { card, comment, subtask, taskSnapshot } from '../task/fixtures';
import { clientFor } from '../testing/client';
import { FakeServer, json } from '../testing/fake-server';
import { watchTask, type WatchedTask } from './task';

let client: TandemClient | null = null;
let watched: WatchedTask | null = null;
afterEach(() => {
  watched?.close();
  client?.stop();
  watched = null;
  client = null;
});

/** A fake server with task t_1 of project p_1, whose comment endpoint emits the event. */
function setup(missing = false) {
  const server = new FakeServer();
  const comments = [comment('cm_1', 'first')];
  // The server's state: a snapshot reloaded meanwhile must agree with the events emitted.
  const state = { subtasks: [] as ReturnType<typeof subtask>[], priority: 'Medium' as 'Medium' | 'Urgent' };
  const typing: unknown[] = [];
  server.routes.push((method, path, body) => {
    if (method === 'GET' && path === '/api/tasks/t_1') {
      if (missing) return json(404, { error: { code: 'not_found', message: 'No such task.' } });
      return json(200, taskSnapshot({ task: card({ priority: state.priority }), subtasks: [...state.subtasks], comments: [...comments], cursor: server.seq }));
    }
    if (method === 'POST' && path === '/api/tasks/t_1/comments') {
      const b = body as { text: string; clientId: string };
      const made = comment(`cm_${comments.length + 1}`, b.text, 'u_me');
      comments.push(made);
      server.emit('task:t_1', 'task.comment.created', { taskId: 't_1', comment: { ...made, commentId: made.id }, clientId: b.clientId });
      return json(201, { comment: made });
    }
    return undefined;
  });
  server.inbound.set('task.typing', (payload) => {
    typing.push(payload);
    return { ok: true };
  });
  client = clientFor(server);
  client.start('u_me');
  const errors: unknown[] = [];
  watched = watchTask(client, 't_1', 'u_me', { notify: () => undefined, nameOf: (id) => id, onError: (e) => errors.push(e) });
  return { server, watched, typing, errors, state };
}

const until = (check: () => boolean) => vi.waitFor(() => expect(check()).toBe(true), { timeout: 2_000, interval: 10 });

describe('watchTask', () => {
  it('loads the task, then joins its room and its project room after the snapshot cursor', async () => {
    const { server, watched, state } = setup();
    await until(() => [...server.sockets].some((s) => s.rooms.has('task:t_1') && s.rooms.has('project:p_1')));
    state.subtasks.push(subtask('st_1', 'c'));
    state.priority = 'Urgent';
    server.emit('task:t_1', 'task.subtask.created', { taskId: 't_1', subtask: subtask('st_1', 'c'), clientId: null });
    server.emit('project:p_1', 'kanban.task.updated', { projectId: 'p_1', taskId: 't_1', changes: { priority: 'Urgent' }, updatedBy: 'u_grace', rev: 2, updatedAt: 'x' });
    server.emit('project:p_1', 'kanban.task.updated', { projectId: 'p_1', taskId: 't_9', changes: { title: 'Another card' }, updatedBy: 'u_grace', rev: 5, updatedAt: 'x' });
    await until(() => watched.task.view.value?.subtasks.length === 1);
    await until(() => watched.task.view.value?.task.priority === 'Urgent');
    expect(watched.task.view.value?.task.title).toBe('Write the launch post');
  });

  it('posts a comment that shows at once and stays one comment once its event is in', async () => {
    const { server, watched } = setup();
    await until(() => [...server.sockets].some((s) => s.rooms.has('task:t_1')));
    watched.task.addComment('On it');
    expect(watched.task.view.value?.comments.map((c) => c.text)).toEqual(['first', 'On it']);
    await until(() => watched.task.view.value?.comments.every((c) => !c.pending) === true);
    expect(watched.task.view.value?.comments.map((c) => c.text)).toEqual(['first', 'On it']);
  });

  it('shows the others typing, and sends this person typing while held', async () => {
    const { server, watched, typing } = setup();
    await until(() => [...server.sockets].some((s) => s.rooms.has('task:t_1')));
    server.emit('task:t_1', 'task.typing', { taskId: 't_1', userId: 'u_grace', typing: true, field: 'comment', expiresInMs: 5_000 });
    await until(() => watched.task.typing.active.value.length === 1);
    expect(watched.task.typing.active.value).toEqual([{ userId: 'u_grace', field: 'comment' }]);
    const hint = watched.typing('description');
    hint.hold();
    await until(() => typing.length === 1);
    hint.release();
    await until(() => typing.length === 2);
    expect(typing).toEqual([
      { taskId: 't_1', typing: true, field: 'description' },
      { taskId: 't_1', typing: false, field: 'description' },
    ]);
  });

  it('reports a task that cannot be read', async () => {
    const { errors, watched } = setup(true);
    await until(() => errors.length > 0);
    expect(errors[0]).toMatchObject({ code: 'not_found' });
    expect(watched.task.view.value).toBeNull();
  });
});
