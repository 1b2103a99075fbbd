import { effect } from '@preact/signals';
import type { components } from '../api.gen';
import type { SdkError } from '../errors';
import { projectRoom, userRoom, type Envelope } from '../events.gen';
import type { Phase } from '../flags';
import type { Http } from '../http';
import { applyProjectEvents, applyProjectsSnapshot, ProjectsStore, type ProjectListEvent, type ProjectsSnapshot } from '../reducers/projects';
import { Rest } from '../rest';
import type { Subscription } from '../subscriptions';
import { subscribeTyped, type EventsOf, type RoomClient, type TypedSubscribeOptions } from './typed';

type Schemas = components['schemas'];

/** A project room carries the board's events and the project page's. */
export type ProjectEvent = EventsOf<'project.'> | EventsOf<'kanban.'>;

export function subscribeProject(
  client: RoomClient,
  projectId: string,
  options: TypedSubscribeOptions<ProjectEvent>,
  flag?: { orgId: string; phase: Extract<Phase, 'kanban' | 'project'> },
): Subscription {
  return subscribeTyped(client, projectRoom(projectId), options, flag);
}

/** GET /api/orgs/{org_id}/projects: the projects the caller may see, each with its task counts. */
export function listProjects(api: Rest, orgId: string, signal?: AbortSignal): Promise<ProjectsSnapshot> {
  return api.get('/api/orgs/{org_id}/projects', { path: { org_id: orgId }, signal });
}

/** POST /api/orgs/{org_id}/projects: a new project; its creator becomes its Lead. */
export async function createProject(api: Rest, orgId: string, body: Schemas['ProjectIn']): Promise<Schemas['ProjectOut']> {
  const res = await api.post('/api/orgs/{org_id}/projects', { path: { org_id: orgId }, body });
  return res.project;
}

/** GET /api/projects/{project_id}: the project page's snapshot. */
export function projectPage(api: Rest, projectId: string, signal?: AbortSignal): Promise<Schemas['ProjectPage']> {
  return api.get('/api/projects/{project_id}', { path: { project_id: projectId }, signal });
}

/** PATCH /api/projects/{project_id}: only the fields sent change; `null` clears a date. */
export async function updateProject(api: Rest, projectId: string, body: Schemas['ProjectPatch']): Promise<Schemas['ProjectOut']> {
  const res = await api.patch('/api/projects/{project_id}', { path: { project_id: projectId }, body });
  return res.project;
}

/** POST /api/projects/{project_id}/members: one of the organization's people joins the project. */
export async function addProjectMember(api: Rest, projectId: string, body: Schemas['ProjectMemberIn']): Promise<Schemas['ProjectMemberOut']> {
  const res = await api.post('/api/projects/{project_id}/members', { path: { project_id: projectId }, body });
  return res.member;
}

/** PATCH /api/projects/{project_id}/members/{user_id}: the change comes back as project.member.added. */
export async function changeProjectRole(api: Rest, projectId: string, userId: string, role: Schemas['ProjectRoleIn']['role']): Promise<Schemas['ProjectMemberOut']> {
  const res = await api.patch('/api/projects/{project_id}/members/{user_id}', { path: { project_id: projectId, user_id: userId }, body: { role } });
  return res.member;
}

/** DELETE /api/projects/{project_id}/members/{user_id} */
export function removeProjectMember(api: Rest, projectId: string, userId: string): Promise<void> {
  return api.delete('/api/projects/{project_id}/members/{user_id}', { path: { project_id: projectId, user_id: userId } });
}

export interface LiveProjects {
  store: ProjectsStore;
  close(): void;
}

function ofOrg(envelope: Envelope<ProjectListEvent>, orgId: string): boolean {
  const data = envelope.data as { project?: { orgId: string } };
  return data.project === undefined || data.project.orgId === orgId;
}

/**
 * An organization's projects kept live: the list and the projects appearing or changing come on
 * the person's own `user:` room (only people who may see a project hear of it), and each listed
 * project's counts on its project room.
 */
export function watchProjects(
  client: RoomClient & { http: Http },
  orgId: string,
  me: { userId: string; guest: boolean },
  onError?: (error: SdkError) => void,
  store: ProjectsStore = new ProjectsStore(),
): LiveProjects {
  let listCursor = 0;
  const list = subscribeTyped<ProjectListEvent>(client, userRoom(me.userId), {
    async load(signal) {
      const snapshot = await listProjects(new Rest(client.http), orgId, signal);
      applyProjectsSnapshot(store, snapshot);
      listCursor = Number(snapshot.cursor) || 0;
      return listCursor;
    },
    apply: (events) =>
      applyProjectEvents(
        store,
        events.filter((e) => ofOrg(e, orgId)),
        me,
      ),
    onError,
  });

  const rooms = new Map<string, Subscription>();
  const watch = (projectId: string): Subscription => {
    let fresh = true; // the list snapshot already holds this project's counts at its cursor
    return subscribeProject(
      client,
      projectId,
      {
        async load(signal) {
          if (fresh) {
            fresh = false;
            return listCursor;
          }
          const page = await projectPage(new Rest(client.http), projectId, signal);
          store.upsert(projectId, { project: page.project, metrics: page.metrics });
          return Number(page.cursor) || 0;
        },
        apply: (events) => applyProjectEvents(store, events as Array<Envelope<ProjectListEvent>>, me),
        onError: (error) => {
          // A project that vanished from the list (removed from it, or deleted) is not an error.
          if (store.has(projectId)) onError?.(error);
        },
      },
      { orgId, phase: 'project' },
    );
  };
  const stopWatching = effect(() => {
    const ids = new Set(store.ids.value);
    for (const [id, subscription] of rooms) {
      if (!ids.has(id)) {
        subscription.close();
        rooms.delete(id);
      }
    }
    for (const id of ids) if (!rooms.has(id)) rooms.set(id, watch(id));
  });

  return {
    store,
    close() {
      stopWatching();
      list.close();
      for (const subscription of rooms.values()) subscription.close();
      rooms.clear();
    },
  };
}
