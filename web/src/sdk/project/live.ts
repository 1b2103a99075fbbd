import { signal, type ReadonlySignal } from '@preact/signals';
import { projectPage, subscribeProject } from '../domains/project';
import { subscribeTyped, type RoomClient } from '../domains/typed';
import type { SdkError } from '../errors';
import { userRoom, type Envelope } from '../events.gen';
import type { Http } from '../http';
import { applyProjectPageEvents, comparableProject, projectFromSnapshot, type ProjectData, type Reader } from '../reducers/project';
import { Rest } from '../rest';
import type { Subscription } from '../subscriptions';
import type { AnyProjectEnvelope, ProjectPageSnapshot } from './types';

export interface WatchedProject {
  /** The confirmed state, a new object after every change (null until the snapshot is in). */
  readonly data: ReadonlySignal<ProjectData | null>;
  /** Why the page cannot be shown at all (its first load failed), or null. */
  readonly failed: ReadonlySignal<string | null>;
  close(): void;
}

/** A refused room or a project that answers not found: the person may not (or no longer) see it. */
export function isLost(error: SdkError): boolean {
  return error.code === 'forbidden' || error.code === 'not_found' || error.code === 'invalid';
}

/**
 * The project page kept live: its snapshot with its cursor, then the project room's events
 * after it (replayed first, a reload on `resync.required`) through one reducer. A Guest taken
 * off the project is evicted from its room (`room.evicted` fails the subscription) before the
 * removal is published there; the removal also comes on the person's own room, which is heard
 * too, so the page says access is lost whichever arrives first (or if the notice is missed
 * while polling) instead of going stale.
 */
export function watchProjectPage(
  client: RoomClient & { http: Http },
  projectId: string,
  orgId: string,
  reader: Reader,
  load: (signal: AbortSignal) => Promise<ProjectPageSnapshot> = (signal) => projectPage(new Rest(client.http), projectId, signal),
): WatchedProject {
  const data = signal<ProjectData | null>(null);
  const failed = signal<string | null>(null);
  let state: ProjectData | null = null;
  const publish = () => {
    if (state) data.value = { ...state };
  };
  const loseAccess = () => {
    if (!state || state.lost) return;
    state.lost = true;
    publish();
  };
  const onError = (error: SdkError) => {
    if (state && isLost(error)) loseAccess();
    else if (!state) failed.value = error.message || 'The project could not be loaded.';
  };

  let own: Subscription | null = null;
  let fresh: number | null = null;
  const reload = async (signal: AbortSignal): Promise<number> => {
    const snapshot = await load(signal);
    const lost = state?.lost ?? false;
    state = { ...projectFromSnapshot(snapshot), lost };
    publish();
    return Number(snapshot.cursor) || 0;
  };
  const room = subscribeProject(
    client,
    projectId,
    {
      async load(signal) {
        const cursor = await reload(signal);
        if (!own) {
          // The person's room first reads from the snapshot just taken; later resyncs reload it.
          fresh = cursor;
          own = subscribeTyped<'project.member.removed'>(client, userRoom(reader.userId), {
            load: async (s) => {
              if (fresh !== null) {
                const at = fresh;
                fresh = null;
                return at;
              }
              return reload(s).catch((err: unknown) => {
                if (isLost(err as SdkError)) loseAccess();
                throw err;
              });
            },
            apply: (events) => {
              const mine = (events as Array<Envelope<'project.member.removed'>>).filter(
                (e) => e.event === 'project.member.removed' && e.data.projectId === projectId && e.data.userId === reader.userId,
              );
              if (mine.length > 0) apply(mine as unknown as AnyProjectEnvelope[]);
            },
            onError: () => undefined, // the person's own room: its trouble is not this page's to tell
          });
        }
        return cursor;
      },
      apply: (events) => apply(events as unknown as AnyProjectEnvelope[]),
      onError,
      verify: {
        async fetch(signal) {
          const snapshot = await load(signal);
          const fetched = projectFromSnapshot(snapshot);
          return {
            cursor: Number(snapshot.cursor) || 0,
            state: comparableProject(fetched),
            repair: () => {
              state = { ...fetched, lost: state?.lost ?? false };
              publish();
            },
          };
        },
        current: () => comparableProject(state),
      },
    },
    { orgId, phase: 'project' },
  );
  function apply(events: AnyProjectEnvelope[]): void {
    if (!state) return;
    applyProjectPageEvents(state, events, reader);
    publish();
  }

  return {
    data,
    failed,
    close() {
      room.close();
      (own as Subscription | null)?.close();
    },
  };
}
