import { projectRoom, taskRoom } from '../events.gen';
import type { Connection } from '../connection';
import type { SdkError } from '../errors';
import type { Http } from '../http';
import { HeldHint } from '../board/hints';
import type { BoardNotice } from '../board/notices';
import { restTaskApi, type TaskApi } from '../task/api';
import { LiveTask } from '../task/live';
import type { TypingField } from '../task/typing';
import type { AnyTaskEnvelope } from '../task/types';
import { comparableTask, taskFromSnapshot } from '../reducers/task';
import type { Subscription } from '../subscriptions';
import { subscribeTyped, type EventsOf, type RoomClient, type TypedSubscribeOptions } from './typed';

export type TaskEvent = EventsOf<'task.'>;

export function subscribeTask(client: RoomClient, taskId: string, options: TypedSubscribeOptions<TaskEvent>, orgId?: string): Subscription {
  return subscribeTyped(client, taskRoom(taskId), options, orgId ? { orgId, phase: 'task' } : undefined);
}

export interface TaskClient extends RoomClient {
  http: Http;
  connection: Connection;
}

export interface WatchedTask {
  task: LiveTask;
  /** Says "I am typing a comment / editing the description" until released (repeated every 2 s meanwhile). */
  typing(field: TypingField): HeldHint;
  close(): void;
}

/** A missing task and one the person may no longer see both answer not_found (a refused room: forbidden). */
function isLost(error: SdkError): boolean {
  return error.code === 'not_found' || error.code === 'forbidden';
}

/**
 * One task kept live: its snapshot with its cursor, then the events of its own room and of its
 * project's room after that cursor (replayed first, a reload on `resync.required`), through
 * one reducer; the others' typing hints from the snapshot and the socket.
 */
export function watchTask(
  client: TaskClient,
  taskId: string,
  me: string,
  callbacks: {
    notify: (notice: BoardNotice) => void;
    nameOf: (userId: string) => string;
    onError?: (error: SdkError) => void;
    onLoad?: () => void;
    /** The task's organization: its `task` phase flag decides socket, polling or soak. */
    orgId?: string;
  },
  api: TaskApi = restTaskApi(client.http),
): WatchedTask {
  const live = new LiveTask({ taskId, me, api, notify: callbacks.notify, nameOf: callbacks.nameOf });
  let project: Subscription | null = null;
  let fresh: number | null = null;
  const onError = (error: SdkError) => {
    if (live.data && isLost(error)) live.markGone();
    callbacks.onError?.(error);
  };
  const apply = (events: unknown[]) => live.applyEvents(events as AnyTaskEnvelope[]);
  const load = async (signal: AbortSignal) => {
    const cursor = live.load(await api.load(taskId, signal));
    callbacks.onLoad?.();
    return cursor;
  };
  const task = subscribeTask(client, taskId, {
    async load(signal) {
      const cursor = await load(signal);
      if (!project && live.data) {
        // The project room's first join reads from the snapshot just taken; later resyncs reload it.
        fresh = cursor;
        project = subscribeTyped(client, projectRoom(live.data.task.projectId), {
          load: async (s) => {
            if (fresh !== null) {
              const at = fresh;
              fresh = null;
              return at;
            }
            return load(s);
          },
          apply,
          onError,
        });
      }
      return cursor;
    },
    apply,
    onError,
    verify: {
      async fetch(signal) {
        const snapshot = await api.load(taskId, signal);
        return { cursor: Number(snapshot.cursor) || 0, state: comparableTask(taskFromSnapshot(snapshot)), repair: () => live.load(snapshot) };
      },
      current: () => comparableTask(live.data),
    },
    // The snapshot carries the typing hints alive now, which are never replayed: reload it on every rejoin.
    ephemeral: true,
  }, callbacks.orgId);

  const room = taskRoom(taskId);
  const stopHints = client.connection.onEvent((event, payload) => {
    if (event !== 'task.typing') return;
    const envelope = payload as { room?: string; data?: Record<string, unknown> };
    const data = envelope?.data;
    if (!data || (envelope.room !== undefined && envelope.room !== room) || data.taskId !== taskId) return;
    const field = data.field === 'description' ? 'description' : 'comment';
    live.typing.receive(String(data.userId), field, data.typing === true, typeof data.expiresInMs === 'number' ? data.expiresInMs : undefined);
  });

  let held: HeldHint[] = [];
  return {
    task: live,
    typing(field) {
      const hint = new HeldHint((typing) => client.connection.request('task.typing', { taskId, typing, field }));
      held = [...held.filter((h) => h.held), hint];
      return hint;
    },
    close() {
      for (const hint of held) hint.release();
      stopHints();
      task.close();
      (project as Subscription | null)?.close();
      live.dispose();
    },
  };
}
