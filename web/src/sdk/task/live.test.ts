import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors';
import type { BoardNotice } from '../board/notices';
import type { TaskApi } from './api';
import { card, comment, subtask, taskSnapshot } from './fixtures';
import { LiveTask } from './live';

interface Call {
  kind: string;
  body: Record<string, unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** A task API whose answers the test gives, one call at a time. */
function fakeApi() {
  const calls: Call[] = [];
  const call = (kind: string, body: object = {}) =>
    new Promise<never>((resolve, reject) => calls.push({ kind, body: body as Record<string, unknown>, resolve: resolve as (v: unknown) => void, reject }));
  const api: TaskApi = {
    load: () => Promise.reject(new Error('not used')),
    edit: (_id, body) => call('edit', body),
    move: (_id, body) => call('move', body),
    addSubtask: (_id, body) => call('addSubtask', body),
    updateSubtask: (id, body) => call('updateSubtask', { id, ...body }),
    removeSubtask: (id) => call('removeSubtask', { id }),
    addComment: (_id, body) => call('addComment', body),
    editComment: (id, text) => call('editComment', { id, text }),
    removeComment: (id) => call('removeComment', { id }),
    removeAttachment: (id) => call('removeAttachment', { id }),
  };
  return { api, calls, last: () => calls[calls.length - 1] };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function setup() {
  const fake = fakeApi();
  const notices: BoardNotice[] = [];
  const live = new LiveTask({ taskId: 't_1', me: 'u_me', api: fake.api, notify: (n) => notices.push(n), nameOf: (id) => (id === 'u_grace' ? 'Grace Hopper' : id) });
  live.load(taskSnapshot({ subtasks: [subtask('st_1', 'c'), subtask('st_2', 'n')], comments: [comment('cm_1', 'first')] }));
  return { live, notices, view: () => live.view.value!, ...fake };
}

describe('optimistic task writes', () => {
  it('shows a comment at once and keeps exactly one copy through its ack and its event', async () => {
    const { live, view, last } = setup();
    live.addComment('On it');
    expect(view().comments.map((c) => [c.text, !!c.pending])).toEqual([['first', false], ['On it', true]]);
    const { clientId } = last().body as { clientId: string };
    expect(clientId).toBeTruthy();
    last().resolve({ comment: comment('cm_2', 'On it', 'u_me') });
    await tick();
    expect(view().comments.map((c) => c.id)).toEqual(['cm_1', 'cm_2']);
    live.applyEvents([{ event: 'task.comment.created', data: { taskId: 't_1', comment: comment('cm_2', 'On it', 'u_me'), clientId } }]);
    expect(view().comments.map((c) => [c.id, !!c.pending])).toEqual([['cm_1', false], ['cm_2', false]]);
  });

  it('settles a comment by its event even before the ack, and drops a refused one with the reason', async () => {
    const { live, view, calls, notices } = setup();
    live.addComment('fast');
    live.addComment('refused');
    const fast = calls[0].body as { clientId: string };
    live.applyEvents([{ event: 'task.comment.created', data: { taskId: 't_1', comment: comment('cm_9', 'fast', 'u_me'), clientId: fast.clientId } }]);
    expect(view().comments.map((c) => c.text)).toEqual(['first', 'fast', 'refused']);
    calls[1].reject(new ApiError(403, 'forbidden', 'You may not write on this task.'));
    await tick();
    expect(view().comments.map((c) => c.text)).toEqual(['first', 'fast']);
    expect(notices[0]).toMatchObject({ kind: 'refused', message: 'Could not post a comment on “Write the launch post”: You may not write on this task.' });
  });

  it('adds a subtask after its neighbour and checks one at once, reconciled by the events', async () => {
    const { live, view, calls } = setup();
    live.addSubtask('Middle', 'st_1');
    expect(view().subtasks.map((s) => s.title)).toEqual(['Step st_1', 'Middle', 'Step st_2']);
    expect(calls[0].body).toMatchObject({ title: 'Middle', afterSubtaskId: 'st_1' });
    live.check('st_2', true);
    expect(view().subtasks[2]).toMatchObject({ id: 'st_2', done: true, pending: true });
    calls[1].resolve({ subtask: subtask('st_2', 'n', { done: true, updatedAt: '2026-12-01T10:05:00Z' }) });
    await tick();
    expect(view().subtasks[2].pending).toBe(true); // acked, event not in yet: still drawn
    live.applyEvents([
      { event: 'task.subtask.updated', data: { taskId: 't_1', subtask: subtask('st_2', 'n', { done: true, updatedAt: '2026-12-01T10:05:00Z' }), changes: ['done'], updatedBy: 'u_me' } },
      { event: 'task.subtask.created', data: { taskId: 't_1', subtask: subtask('st_3', 'g', { title: 'Middle' }), clientId: (calls[0].body as { clientId: string }).clientId } },
    ]);
    expect(view().subtasks.map((s) => [s.id, s.done, !!s.pending])).toEqual([
      ['st_1', false, false],
      ['st_3', false, false],
      ['st_2', true, false],
    ]);
  });

  it('sends only changed fields with the base rev, and tells the writer whom they overrode', async () => {
    const { live, view, last, notices } = setup();
    live.edit({ title: 'Write the launch post', priority: 'Urgent' }, 1);
    expect(last().body).toMatchObject({ changes: { priority: 'Urgent' }, baseRev: 1 });
    expect(view().task).toMatchObject({ priority: 'Urgent', pending: true });
    last().resolve({ task: card({ priority: 'Urgent', rev: 3 }), conflict: { fields: ['priority'], baseRev: 1, rev: 2, with: [{ field: 'priority', userId: 'u_grace' }] } });
    await tick();
    expect(notices[0].message).toContain('Grace Hopper changed the priority');
    live.applyEvents([{ event: 'task.updated', data: { taskId: 't_1', changes: { priority: 'Urgent' }, updatedBy: 'u_me', rev: 3, updatedAt: 'x' } }]);
    expect(view().task.pending).toBeUndefined();
  });
});

describe('description saves', () => {
  it('sends the base text and reports a merge', async () => {
    const { live, last } = setup();
    const saved = live.saveDescription('First line\nSecond line\nMine', 'First line\nSecond line');
    expect(last().body).toMatchObject({ changes: { description: 'First line\nSecond line\nMine' }, descriptionBase: 'First line\nSecond line' });
    last().resolve({ task: card({ description: 'Theirs\nFirst line\nSecond line\nMine', rev: 3 }), conflict: { fields: ['description'], merged: true, baseRev: 1, rev: 2, with: [] } });
    expect(await saved).toEqual({ kind: 'merged' });
  });

  it('hands back both versions when the server could not merge, leaving the stored text drawn', async () => {
    const { live, view, last, notices } = setup();
    const saved = live.saveDescription('Mine', 'First line\nSecond line');
    expect(view().task.description).toBe('Mine');
    last().resolve({ task: card({ description: 'Theirs', rev: 2 }), conflict: { fields: ['description'], merged: false, theirs: 'Theirs', mine: 'Mine', baseRev: 1, rev: 2, with: [] } });
    expect(await saved).toEqual({ kind: 'conflict', theirs: 'Theirs', mine: 'Mine' });
    expect(notices).toEqual([]);
    live.applyEvents([{ event: 'task.updated', data: { taskId: 't_1', changes: { description: 'Theirs' }, updatedBy: 'u_grace', rev: 2, updatedAt: 'x' } }]);
    expect(view().task.description).toBe('Theirs');
  });
});

describe('a task that goes away', () => {
  it('shows the task gone when it is deleted, and drops pending writes', () => {
    const { live, view } = setup();
    live.addComment('too late');
    live.applyEvents([{ event: 'kanban.task.deleted', data: { projectId: 'p_1', taskId: 't_1' } }]);
    expect(view().gone).toBe(true);
    expect(view().comments.map((c) => c.text)).toEqual(['first']);
  });
});

describe('files', () => {
  it('shows the uploader their file at once, and once only when its event follows', () => {
    const { live, view } = setup();
    const file = { id: 'att_1', taskId: 't_1', filename: 'a.txt', contentType: 'text/plain', size: 3, uploadedBy: 'u_me', createdAt: 'x', thumbnailUrl: null, url: '/api/attachments/att_1' };
    live.attached(file);
    live.applyEvents([{ event: 'task.attachment.added', data: { taskId: 't_1', attachment: file } }]);
    expect(view().attachments.map((a) => a.id)).toEqual(['att_1']);
  });
});
