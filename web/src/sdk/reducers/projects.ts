import type { components } from '../api.gen';
import type { Envelope, EventMap } from '../events.gen';
import { KeyedStore } from '../store';

export type Project = EventMap['project.created']['project'];
export type ProjectMetrics = EventMap['project.metrics.updated']['metrics'];
export type ProjectsSnapshot = components['schemas']['ProjectsOut'];

/** A row of the projects list: the project and its task counts. */
export interface ProjectRow {
  project: Project;
  metrics: ProjectMetrics;
}

export type ProjectListEvent =
  | 'project.created'
  | 'project.updated'
  | 'project.member.added'
  | 'project.member.removed'
  | 'project.metrics.updated';

export class ProjectsStore extends KeyedStore<ProjectRow> {}

/** Counts for a project nobody has counted yet: every column empty. */
export function emptyMetrics(project: Project): ProjectMetrics {
  return { columns: project.columns.map((name) => ({ name, count: 0 })), total: 0, done: 0 };
}

export function applyProjectsSnapshot(store: ProjectsStore, snapshot: ProjectsSnapshot): void {
  store.replaceAll(
    snapshot.projects.map((project) => ({ project, metrics: snapshot.metrics[project.id] ?? emptyMetrics(project) })),
    (row) => row.project.id,
  );
}

/**
 * The projects list's reducer, for its person's `user:` room (projects appearing, changing, their
 * membership) and each project's room (its counts). `me` is the person: losing a project they
 * may see only as its member (a Guest) removes it from their list.
 */
export function applyProjectEvents(store: ProjectsStore, envelopes: Array<Envelope<ProjectListEvent>>, me: { userId: string; guest: boolean }): void {
  for (const envelope of envelopes) {
    switch (envelope.event) {
      case 'project.created':
      case 'project.updated':
      case 'project.member.added': {
        const { project } = (envelope as Envelope<'project.created' | 'project.updated' | 'project.member.added'>).data;
        const row = store.peek(project.id);
        store.upsert(project.id, { project, metrics: row?.metrics ?? emptyMetrics(project) });
        break;
      }
      case 'project.member.removed': {
        const { projectId, userId } = (envelope as Envelope<'project.member.removed'>).data;
        if (me.guest && userId === me.userId) store.remove(projectId);
        break;
      }
      case 'project.metrics.updated': {
        const { projectId, metrics } = (envelope as Envelope<'project.metrics.updated'>).data;
        store.patch(projectId, { metrics });
        break;
      }
    }
  }
}

/** The share of a project's tasks that are done, 0–100. */
export function progress(metrics: ProjectMetrics): number {
  return metrics.total === 0 ? 0 : Math.round((metrics.done / metrics.total) * 100);
}
