import { createStore } from 'idb-keyval';
import { describe, expect, it } from 'vitest';
import { ApiError, ErrorBus } from '../errors';
import { OfflineQueue } from '../offline-queue';
import type { BoardApi, MoveBody } from './api';
import { snapshot, task } from './fixtures';
import { LiveBoard, type QueuedMove } from './live';
import type { BoardNotice } from './notices';

let stores = 0;

function offlineBoard(answer: (taskId: string, body: MoveBody) => Promise<{ task: ReturnType<typeof task> }>) {
  const queue = new OfflineQueue('u_me', new ErrorBus(), createStore(`board-queue-${++stores}`, 'queue'));
  let online = false;
  queue.canSend = () => online;
  const sent: Array<[string, MoveBody]> = [];
  const api: BoardApi = {
    load: () => Promise.reject(new Error('unused')),
    create: () => Promise.reject(new Error('unused')),
    edit: () => Promise.reject(new Error('unused')),
    remove: () => Promise.reject(new Error('unused')),
    move: (taskId, body) => {
      sent.push([taskId, body]);
      return answer(taskId, body);
    },
  };
  const notices: BoardNotice[] = [];
  const board = new LiveBoard({
    projectId: 'p_1',
    me: 'u_me',
    api,
    notify: (n) => notices.push(n),
    nameOf: (id) => id,
    enqueueMove: (move) => queue.enqueue('kanban.move', move, move.clientId),
  });
  queue.register('kanban.move', (command) => board.deliverMove(command.payload as QueuedMove));
  board.load(snapshot([task('t_1', 'To Do', 'b'), task('t_2', 'To Do', 'd'), task('t_3', 'Review', 'm')]));
  const reconnect = () => {
    online = true;
    return queue.flush();
  };
  return { board, queue, sent, notices, reconnect };
}

describe('moves made offline', () => {
  it('show at once, wait in the offline queue, and are sent in order on reconnect', async () => {
    let rev = 1;
    const { board, queue, sent, reconnect } = offlineBoard(async (taskId, body) => ({ task: task(taskId, body.toColumn, 'z', { rev: ++rev }) }));
    board.move('t_1', 'Review', {});
    board.move('t_2', 'Done', {});
    board.move('t_1', 'Done', { afterTaskId: 't_2' });
    await new Promise((r) => setTimeout(r, 20));
    expect(board.view.ids('Done').value).toEqual(['t_2', 't_1']);
    expect(sent).toEqual([]);
    expect(queue.pending.value).toHaveLength(3);
    await reconnect();
    expect(sent.map(([id, body]) => [id, body.toColumn, body.afterTaskId])).toEqual([
      ['t_1', 'Review', undefined],
      ['t_2', 'Done', undefined],
      ['t_1', 'Done', 't_2'],
    ]);
    expect(queue.pending.value).toHaveLength(0);
    expect(board.history.undoable.value).toHaveLength(3);
  });

  it('keeps a move queued while the server cannot be reached, and rolls back one it refuses', async () => {
    let failures = 1;
    const { board, queue, sent, notices, reconnect } = offlineBoard(async () => {
      if (failures-- > 0) throw new ApiError(0, 'network', 'offline');
      throw new ApiError(409, 'conflict', 'the column is gone');
    });
    board.move('t_3', 'To Do', {});
    await reconnect();
    expect(sent).toHaveLength(1);
    expect(queue.pending.value).toHaveLength(1); // transient: kept for a retry
    expect(board.view.ids('To Do').value).toContain('t_3');
    queue.dispose();
    await queue.flush();
    expect(sent).toHaveLength(2);
    expect(queue.pending.value).toHaveLength(0);
    expect(board.view.ids('Review').value).toEqual(['t_3']);
    expect(notices.at(-1)?.message).toBe('Could not move “Task t_3”: the column is gone.');
  });
});
