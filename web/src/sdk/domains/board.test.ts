import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TandemClient } from '../client';
import { snapshot, task } from '../board/fixtures';
import type { BoardNotice } from '../board/notices';
import { clientFor } from '../testing/client';
import { FakeServer, json } from '../testing/fake-server';
import { watchBoard, type WatchedBoard } from './board';

const ROOM = 'project:p_1';
let client: TandemClient | null = null;
let watched: WatchedBoard | null = null;
afterEach(() => {
  watched?.close();
  client?.stop();
  watched = null;
  client = null;
});

/** A fake server with the rover-like board p_1 and its move endpoint (which emits the event). */
function setup() {
  const server = new FakeServer();
  const tasks = [task('t_1', 'To Do', 'b'), task('t_2', 'To Do', 'd'), task('t_3', 'Review', 'm')];
  let loads = 0;
  const moves: Array<Record<string, unknown>> = [];
  server.routes.push((method, path, body) => {
    if (method === 'GET' && path === '/api/projects/p_1/board') {
      loads += 1;
      return json(200, snapshot(tasks, server.seq, { locks: [{ taskId: 't_3', userId: 'u_grace', expiresInMs: 5_000 }], typing: [] }));
    }
    const move = path.match(/^\/api\/tasks\/([^/]+)\/move$/);
    if (method === 'POST' && move) {
      const b = body as { toColumn: string; clientId: string };
      moves.push(b as Record<string, unknown>);
      const t = tasks.find((x) => x.id === move[1])!;
      Object.assign(t, { status: b.toColumn, rank: 'z', rev: t.rev + 1 });
      server.emit(ROOM, 'kanban.task.moved', {
        projectId: 'p_1',
        taskId: t.id,
        fromColumn: 'To Do',
        toColumn: b.toColumn,
        position: 0,
        movedBy: 'u_me',
        rank: 'z',
        rev: t.rev,
        updatedAt: t.updatedAt,
        completedAt: null,
        clientId: b.clientId,
        conflict: null,
      });
      return json(200, { task: t, conflict: null });
    }
    return undefined;
  });
  server.inbound.set('kanban.lock', () => ({ ok: true }));
  server.inbound.set('kanban.typing', () => ({ ok: true }));
  client = clientFor(server);
  client.start('u_me');
  const notices: BoardNotice[] = [];
  watched = watchBoard(client, 'p_1', 'org_1', 'u_me', { notify: (n) => notices.push(n), nameOf: (id) => id });
  // The server's state and its event change together, as a snapshot reloaded meanwhile must agree.
  const remove = (taskId: string) => {
    tasks.splice(tasks.findIndex((t) => t.id === taskId), 1);
    server.emit(ROOM, 'kanban.task.deleted', { projectId: 'p_1', taskId, status: 'To Do', deletedBy: 'u_grace' });
  };
  return { server, watched, moves, notices, remove, loads: () => loads };
}

const until = (check: () => boolean) => vi.waitFor(() => expect(check()).toBe(true), { timeout: 2_000, interval: 10 });

describe('watchBoard', () => {
  it('loads the snapshot, then applies the project room’s events after its cursor', async () => {
    const { server, watched, remove } = setup();
    await watched.subscription.ready;
    expect(watched.board.view.ids('To Do').value).toEqual(['t_1', 't_2']);
    await until(() => server.subscribes.some((s) => s.room === ROOM));
    expect(server.subscribes.find((s) => s.room === ROOM)?.after).toBe(0);
    remove('t_2');
    await until(() => watched.board.view.ids('To Do').value.length === 1);
  });

  it('reloads the snapshot when the server says the log cannot replay what it missed', async () => {
    const { server, watched, loads } = setup();
    await watched.subscription.ready;
    await until(() => server.subscribes.some((s) => s.room === ROOM));
    const before = loads();
    server.sendResync(ROOM, 'pruned');
    await until(() => loads() > before);
  });

  it('sends a move through the offline queue with its client id, and the event settles it', async () => {
    const { watched, moves } = setup();
    await watched.subscription.ready;
    watched.board.move('t_1', 'Review', { beforeTaskId: 't_3' });
    expect(watched.board.view.ids('Review').value).toEqual(['t_1', 't_3']);
    await until(() => moves.length === 1);
    expect(moves[0]).toMatchObject({ toColumn: 'Review', beforeTaskId: 't_3', baseRev: 1 });
    expect(String(moves[0].clientId)).toMatch(/^cl_/);
    await until(() => watched.board.view.peekCard('t_1')?.pending === undefined);
    expect(watched.board.history.undoable.value).toHaveLength(1);
  });

  it('shows the snapshot’s hints and live ones of its own project only', async () => {
    const { server, watched } = setup();
    await watched.subscription.ready;
    expect(watched.board.hints.locks.of('t_3').value).toEqual({ userId: 'u_grace', field: null });
    await until(() => server.subscribes.some((s) => s.room === ROOM));
    server.emit(ROOM, 'kanban.typing', { projectId: 'p_1', taskId: 't_1', userId: 'u_alan', typing: true, field: 'title', expiresInMs: 5_000 });
    server.emit(ROOM, 'kanban.lock', { projectId: 'p_1', taskId: 't_3', userId: 'u_grace', locked: false, expiresInMs: 0 });
    await until(() => watched.board.hints.typing.of('t_1').value?.field === 'title');
    await until(() => watched.board.hints.locks.of('t_3').value === null);
  });

  it('says what it drags and edits, repeated while held, and stops on release', async () => {
    const { server, watched: board } = setup();
    await board.subscription.ready;
    await until(() => server.sockets.size > 0 && [...server.sockets].some((s) => s.rooms.has(ROOM)));
    const lock = board.lock('t_1');
    lock.hold();
    const typing = board.typing('t_2', 'priority');
    typing.hold();
    await until(() => server.received.length === 2);
    lock.release();
    board.close(); // releases what is still held
    await until(() => server.received.length === 4);
    expect(server.received).toEqual([
      { event: 'kanban.lock', payload: { projectId: 'p_1', taskId: 't_1', locked: true } },
      { event: 'kanban.typing', payload: { projectId: 'p_1', taskId: 't_2', typing: true, field: 'priority' } },
      { event: 'kanban.lock', payload: { projectId: 'p_1', taskId: 't_1', locked: false } },
      { event: 'kanban.typing', payload: { projectId: 'p_1', taskId: 't_2', typing: false, field: 'priority' } },
    ]);
    watched = null;
  });
});
