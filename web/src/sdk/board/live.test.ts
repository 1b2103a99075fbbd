import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors';
import type { BoardApi, WriteAck } from './api';
import { created, deleted, moved, snapshot, task, updated } from './fixtures';
import { LiveBoard } from './live';
import type { BoardNotice } from './notices';
import type { Task } from './types';

interface Call {
  kind: 'create' | 'edit' | 'move' | 'remove';
  id: string;
  body: Record<string, unknown>;
  resolve(value: WriteAck | void): void;
  reject(error: unknown): void;
}

/** A board API whose answers the test gives, one call at a time. */
function fakeApi() {
  const calls: Call[] = [];
  const call = (kind: Call['kind'], id: string, body: object = {}) =>
    new Promise<never>((resolve, reject) => calls.push({ kind, id, body: body as Record<string, unknown>, resolve: resolve as unknown as Call['resolve'], reject }));
  const api: BoardApi = {
    load: () => Promise.reject(new Error('not used')),
    create: (projectId, body) => call('create', projectId, body),
    edit: (taskId, body) => call('edit', taskId, body),
    move: (taskId, body) => call('move', taskId, body),
    remove: (taskId) => call('remove', taskId),
  };
  return { api, calls, last: () => calls[calls.length - 1] };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function setup(tasks: Task[] = [task('t_1', 'To Do', 'b'), task('t_2', 'To Do', 'd'), task('t_3', 'Review', 'm')]) {
  const fake = fakeApi();
  const notices: BoardNotice[] = [];
  const names: Record<string, string> = { u_me: 'Ada Lovelace', u_grace: 'Grace Hopper' };
  const board = new LiveBoard({ projectId: 'p_1', me: 'u_me', api: fake.api, notify: (n) => notices.push(n), nameOf: (id) => names[id] ?? id });
  board.load(snapshot(tasks));
  const ids = (column: string) => board.view.ids(column).value;
  return { board, notices, ids, ...fake };
}

describe('optimistic board writes', () => {
  it('shows a move at once, sends it with its client id and base rev, and keeps it through ack and event', async () => {
    const { board, ids, last } = setup();
    board.move('t_1', 'Review', { beforeTaskId: 't_3' });
    expect(ids('Review')).toEqual(['t_1', 't_3']);
    expect(ids('To Do')).toEqual(['t_2']);
    const call = last();
    expect(call).toMatchObject({ kind: 'move', id: 't_1', body: { toColumn: 'Review', beforeTaskId: 't_3', baseRev: 1 } });
    call.resolve({ task: task('t_1', 'Review', 'a', { rev: 2 }) });
    await tick();
    expect(ids('Review')).toEqual(['t_1', 't_3']); // acked, event not yet in: still drawn
    board.applyEvents([moved('t_1', 'To Do', 'Review', 'a', 2, 'u_me')]);
    expect(ids('Review')).toEqual(['t_1', 't_3']);
    expect(board.view.peekCard('t_1')!.pending).toBeUndefined();
  });

  it('drops the overlay as soon as the event with its client id is applied, even before the ack', () => {
    const { board, ids, last } = setup();
    board.edit('t_2', { title: 'Mine' });
    const clientId = last().body.clientId as string;
    expect(board.view.peekCard('t_2')).toMatchObject({ title: 'Mine', pending: true });
    board.applyEvents([updated('t_2', { title: 'Mine' }, 2, 'u_me', { clientId })]);
    expect(board.view.peekCard('t_2')).toMatchObject({ title: 'Mine', rev: 2 });
    expect(board.view.peekCard('t_2')!.pending).toBeUndefined();
    expect(ids('To Do')).toEqual(['t_1', 't_2']);
  });

  it('sends only the fields that changed', () => {
    const { board, last, calls } = setup();
    board.edit('t_1', { title: 'Task t_1', priority: 'Urgent' });
    expect(last().body.changes).toEqual({ priority: 'Urgent' });
    board.edit('t_1', { priority: 'Urgent' });
    expect(calls).toHaveLength(1);
  });

  it('rolls a refused move back and says why', async () => {
    const { board, ids, last, notices } = setup();
    board.move('t_1', 'Done', {});
    expect(ids('Done')).toEqual(['t_1']);
    last().reject(new ApiError(409, 'conflict', 't_9 is not another task of the column'));
    await tick();
    expect(ids('Done')).toEqual([]);
    expect(ids('To Do')).toEqual(['t_1', 't_2']);
    expect(notices).toEqual([{ kind: 'refused', message: 'Could not move “Task t_1”: t_9 is not another task of the column.' }]);
  });

  it('shows a created card at the top at once and swaps in the server’s task', async () => {
    const { board, ids, last } = setup();
    const tempId = board.create('To Do', { title: 'New one' }, { beforeTaskId: 't_1' });
    expect(ids('To Do')).toEqual([tempId, 't_1', 't_2']);
    const call = last();
    expect(call.body).toMatchObject({ title: 'New one', status: 'To Do', beforeTaskId: 't_1' });
    const real = task('t_9', 'To Do', 'a', { title: 'New one' });
    call.resolve({ task: real });
    await tick();
    expect(ids('To Do')).toEqual(['t_9', 't_1', 't_2']);
    board.applyEvents([created(real, 'u_me', call.body.clientId as string)]);
    expect(ids('To Do')).toEqual(['t_9', 't_1', 't_2']);
    expect(board.view.peekCard('t_9')!.pending).toBeUndefined();
  });

  it('settles by rev when the server sends no client id in its events', async () => {
    const { board, last } = setup();
    board.edit('t_1', { title: 'Old server' });
    last().resolve({ task: task('t_1', 'To Do', 'b', { rev: 2, title: 'Old server' }) });
    await tick();
    board.applyEvents([updated('t_1', { title: 'Old server' }, 2, 'u_me')]);
    expect(board.view.peekCard('t_1')).toMatchObject({ title: 'Old server', rev: 2 });
    expect(board.view.peekCard('t_1')!.pending).toBeUndefined();
  });

  it('hides a deleted card at once and brings it back if the delete is refused', async () => {
    const { board, ids, last, notices } = setup();
    board.remove('t_2');
    expect(ids('To Do')).toEqual(['t_1']);
    last().reject(new ApiError(403, 'forbidden', "this project's Viewers cannot change its tasks"));
    await tick();
    expect(ids('To Do')).toEqual(['t_1', 't_2']);
    expect(notices[0].kind).toBe('refused');
  });

  it('draws pending writes over a fresh snapshot (a resync does not lose them)', () => {
    const { board, ids } = setup();
    board.move('t_3', 'To Do', {});
    board.load(snapshot([task('t_1', 'To Do', 'b'), task('t_2', 'To Do', 'd'), task('t_3', 'Review', 'm')], 20));
    expect(ids('To Do')).toEqual(['t_1', 't_2', 't_3']);
  });
});

describe('conflicts', () => {
  it('sends a move against the rev the card had when it was picked up', () => {
    const { board, last } = setup();
    board.applyEvents([updated('t_1', { priority: 'High' }, 2, 'u_grace')]);
    board.move('t_1', 'Done', {}, 'user', 1);
    expect(last().body).toMatchObject({ toColumn: 'Done', baseRev: 1 });
  });

  it('tells the writer who changed which field meanwhile', async () => {
    const { board, last, notices } = setup();
    board.edit('t_1', { title: 'Mine' });
    last().resolve({
      task: task('t_1', 'To Do', 'b', { rev: 3, title: 'Mine' }),
      conflict: { fields: ['title'], baseRev: 1, rev: 3, with: [{ field: 'title', userId: 'u_grace' }] },
    });
    await tick();
    expect(notices).toEqual([{ kind: 'conflict', message: 'Grace Hopper changed the title of “Mine” just before you: your change was kept.' }]);
  });

  it('tells the other person their change was overwritten, naming the writer', () => {
    const { board, notices } = setup();
    board.applyEvents([
      updated('t_1', { title: 'Theirs' }, 3, 'u_grace', {
        clientId: 'cl_theirs',
        conflict: { fields: ['title'], baseRev: 1, rev: 3, with: [{ field: 'title', userId: 'u_me' }] },
      }),
    ]);
    expect(notices).toEqual([{ kind: 'conflict', message: 'Grace Hopper changed the title of “Theirs” right after you: their change is shown.' }]);
  });
});

describe('undo and redo', () => {
  async function movedAndAcked() {
    const s = setup();
    s.board.move('t_1', 'Done', {});
    s.last().resolve({ task: task('t_1', 'Done', 'k', { rev: 2 }) });
    await tick();
    s.board.applyEvents([moved('t_1', 'To Do', 'Done', 'k', 2, 'u_me')]);
    return s;
  }

  it('undoes a move back to where the card was, with the base rev of the ack, then redoes it', async () => {
    const { board, ids, last } = await movedAndAcked();
    board.undo();
    expect(last()).toMatchObject({ kind: 'move', id: 't_1', body: { toColumn: 'To Do', beforeTaskId: 't_2', baseRev: 2 } });
    expect(ids('To Do')).toEqual(['t_1', 't_2']);
    last().resolve({ task: task('t_1', 'To Do', 'c', { rev: 3 }) });
    await tick();
    board.applyEvents([moved('t_1', 'Done', 'To Do', 'c', 3, 'u_me')]);
    expect(board.history.redoable.value).toHaveLength(1);
    board.redo();
    expect(last().body).toMatchObject({ toColumn: 'Done', baseRev: 3 });
    expect(ids('Done')).toEqual(['t_1']);
  });

  it('refuses to undo over someone else’s later change, and says who', async () => {
    const { board, calls, notices } = await movedAndAcked();
    board.applyEvents([moved('t_1', 'Done', 'Review', 'z', 3, 'u_grace')]);
    const before = calls.length;
    board.undo();
    expect(calls).toHaveLength(before);
    expect(notices.at(-1)).toEqual({ kind: 'undo-stale', message: 'Grace Hopper changed the column of “Task t_1” since: undo left it as it is.' });
  });

  it('undoes an edit field by field, ignoring others’ changes to other fields', async () => {
    const { board, last } = setup();
    board.edit('t_1', { title: 'New title' });
    last().resolve({ task: task('t_1', 'To Do', 'b', { rev: 2, title: 'New title' }) });
    await tick();
    board.applyEvents([updated('t_1', { title: 'New title' }, 2, 'u_me'), updated('t_1', { priority: 'Low' }, 3, 'u_grace')]);
    board.undo();
    expect(last()).toMatchObject({ kind: 'edit', id: 't_1', body: { changes: { title: 'Task t_1' }, baseRev: 3 } });
  });

  it('undoes a delete by creating the card again at its old place, and a create by deleting it', async () => {
    const { board, ids, last, notices } = setup();
    board.remove('t_1');
    last().resolve();
    await tick();
    board.applyEvents([deleted('t_1', 'To Do', 'u_me')]);
    expect(notices.at(-1)).toMatchObject({ kind: 'deleted', message: 'Deleted “Task t_1”.' });
    notices.at(-1)!.action!.run();
    expect(last()).toMatchObject({ kind: 'create', body: { title: 'Task t_1', status: 'To Do', beforeTaskId: 't_2' } });
    expect(ids('To Do')[1]).toBe('t_2');
    last().resolve({ task: task('t_7', 'To Do', 'a', { title: 'Task t_1' }) });
    await tick();
    board.applyEvents([created(task('t_7', 'To Do', 'a', { title: 'Task t_1' }), 'u_me')]);
    board.redo();
    expect(last()).toMatchObject({ kind: 'remove', id: 't_7' });
  });

  it('clears redo when the person makes a new change', async () => {
    const { board, last } = await movedAndAcked();
    board.undo();
    last().resolve({ task: task('t_1', 'To Do', 'c', { rev: 3 }) });
    await tick();
    expect(board.history.redoable.value).toHaveLength(1);
    board.edit('t_2', { priority: 'High' });
    last().resolve({ task: task('t_2', 'To Do', 'd', { rev: 2, priority: 'High' }) });
    await tick();
    expect(board.history.redoable.value).toHaveLength(0);
  });
});
