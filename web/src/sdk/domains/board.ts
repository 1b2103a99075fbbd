import { projectRoom } from '../events.gen';
import type { Connection } from '../connection';
import type { SdkError } from '../errors';
import type { Http } from '../http';
import type { OfflineQueue } from '../offline-queue';
import { restBoardApi, type BoardApi } from '../board/api';
import { HeldHint } from '../board/hints';
import { LiveBoard, type QueuedMove } from '../board/live';
import type { BoardNotice } from '../board/notices';
import type { AnyBoardEnvelope, EditableField, LockHintWire, TypingHintWire } from '../board/types';
import { boardFromSnapshot, comparableBoard } from '../reducers/board';
import type { Subscription } from '../subscriptions';
import type { RoomClient } from './typed';
import { subscribeProject } from './project';

/** The offline queue's command kind for board moves. */
export const MOVE_COMMAND = 'kanban.move';

/** Only one board is open at a time; queued moves are delivered through it (or straight to the server). */
let current: { board: LiveBoard; api: BoardApi } | null = null;
const registered = new WeakSet<OfflineQueue>();

export interface BoardClient extends RoomClient {
  http: Http;
  connection: Connection;
  queue: OfflineQueue | null;
}

export interface WatchedBoard {
  board: LiveBoard;
  subscription: Subscription;
  /** Says "I am dragging this card" until released (repeated every 2 s meanwhile). */
  lock(taskId: string): HeldHint;
  /** Says "I am editing this field of this card" until released. */
  typing(taskId: string, field: EditableField): HeldHint;
  close(): void;
}

function registerMoves(queue: OfflineQueue, fallbackApi: BoardApi): void {
  if (registered.has(queue)) return;
  registered.add(queue);
  queue.register(MOVE_COMMAND, async (command) => {
    const move = command.payload as QueuedMove;
    if (current) return current.board.deliverMove(move);
    // The board was left before the move could be sent: send it all the same.
    const { taskId, toColumn, placement, baseRev, clientId } = move;
    return fallbackApi.move(taskId, { toColumn, ...placement, baseRev, clientId });
  });
}

/**
 * A project's board kept live: the snapshot with its cursor, then the project room's events
 * after it (replayed first, a reload on `resync.required`) through the board's reducer; the
 * others' lock and typing hints from the snapshot and the socket; moves through the offline
 * queue so that those made offline are sent, in order, on reconnect.
 */
export function watchBoard(
  client: BoardClient,
  projectId: string,
  orgId: string,
  me: string,
  callbacks: { notify: (notice: BoardNotice) => void; nameOf: (userId: string) => string; onError?: (error: SdkError) => void; onLoad?: () => void },
  api: BoardApi = restBoardApi(client.http),
): WatchedBoard {
  const queue = client.queue;
  if (queue) registerMoves(queue, api);
  const board = new LiveBoard({
    projectId,
    me,
    api,
    notify: callbacks.notify,
    nameOf: callbacks.nameOf,
    enqueueMove: queue ? (move) => queue.enqueue(MOVE_COMMAND, move, move.clientId) : undefined,
  });
  current = { board, api };
  const subscription = subscribeProject(
    client,
    projectId,
    {
      async load(signal) {
        const cursor = board.load(await api.load(projectId, signal));
        callbacks.onLoad?.();
        return cursor;
      },
      apply: (events) => board.applyEvents(events as unknown as AnyBoardEnvelope[]),
      onError: callbacks.onError,
      verify: {
        async fetch(signal) {
          const snapshot = await api.load(projectId, signal);
          return { cursor: Number(snapshot.cursor) || 0, state: comparableBoard(boardFromSnapshot(snapshot)), repair: () => board.load(snapshot) };
        },
        current: () => comparableBoard(board.data),
      },
      // The snapshot carries the hints alive now, which are never replayed: reload it on every rejoin.
      ephemeral: true,
    },
    // With the kanban phase off for the org, the room is polled instead.
    { orgId, phase: 'kanban' },
  );

  // Hints are ephemeral socket events: read straight off the connection, whatever the generated map knows.
  const room = projectRoom(projectId);
  const stopHints = client.connection.onEvent((event, payload) => {
    if (event !== 'kanban.lock' && event !== 'kanban.typing') return;
    const envelope = payload as { room?: string; data?: Record<string, unknown> };
    const data = envelope?.data;
    if (!data || (envelope.room !== undefined && envelope.room !== room) || data.projectId !== projectId) return;
    if (event === 'kanban.lock') {
      const hint = data as unknown as LockHintWire & { locked: boolean };
      board.hints.locks.receive(hint.taskId, hint.userId, hint.locked === true, hint.expiresInMs);
    } else {
      const hint = data as unknown as TypingHintWire & { typing: boolean };
      board.hints.typing.receive(hint.taskId, hint.userId, hint.typing === true, hint.expiresInMs, hint.field ?? null);
    }
  });

  let held: HeldHint[] = [];
  const hold = (make: () => HeldHint) => {
    const hint = make();
    held = [...held.filter((h) => h.held), hint];
    return hint;
  };
  return {
    board,
    subscription,
    lock: (taskId) =>
      hold(() => new HeldHint((locked) => client.connection.request('kanban.lock', { projectId, taskId, locked }))),
    typing: (taskId, field) =>
      hold(() => new HeldHint((typing) => client.connection.request('kanban.typing', { projectId, taskId, typing, field }))),
    close() {
      for (const hint of held) hint.release();
      stopHints();
      subscription.close();
      board.dispose();
      if (current?.board === board) current = null;
    },
  };
}
