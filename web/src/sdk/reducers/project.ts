import type { AnyProjectEnvelope, DueDay, Project, ProjectActivity, ProjectFile, ProjectMember, ProjectMetrics, ProjectPageSnapshot } from '../project/types';

/**
 * The project page's confirmed state: the snapshot with every event of the project room after
 * its cursor applied. Each change replaces the object or list it touches, so a view can compare
 * by reference; every event is safe to apply twice (a replay after a reconnect).
 */
export interface ProjectData {
  project: Project;
  members: ProjectMember[];
  metrics: ProjectMetrics;
  due: DueDay[];
  files: ProjectFile[];
  activity: ProjectActivity[];
  /** The person may no longer see the project (taken off it as a Guest): the page says so. */
  lost: boolean;
}

/** Who reads the page: a Guest taken off the project loses sight of it. */
export interface Reader {
  userId: string;
  guest: boolean;
}

/** The recent activity keeps the newest this many. */
export const ACTIVITY_KEPT = 20;

const ROLE_ORDER: Record<ProjectMember['role'], number> = { Lead: 0, Contributor: 1, Viewer: 2 };

/** Leads first, then Contributors, then Viewers; by name within a role. */
export function byRole(a: ProjectMember, b: ProjectMember): number {
  return ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.name.localeCompare(b.name) || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0);
}

function newestFirst(a: { createdAt: string; id: string }, b: { createdAt: string; id: string }): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export function projectFromSnapshot(snapshot: ProjectPageSnapshot): ProjectData {
  return {
    project: snapshot.project,
    members: [...snapshot.members].sort(byRole),
    metrics: snapshot.metrics,
    due: [...snapshot.due],
    files: [...snapshot.files],
    activity: snapshot.activity.slice(0, ACTIVITY_KEPT),
    lost: false,
  };
}

/** Applies one event of the project room; the board's own events are ignored but for a task's new title. */
export function applyProjectPageEvent(data: ProjectData, envelope: AnyProjectEnvelope, reader: Reader): void {
  const projectId = data.project.id;
  if ('projectId' in envelope.data && envelope.data.projectId !== projectId) return;
  switch (envelope.event) {
    case 'project.updated':
      if (envelope.data.project.id === projectId) data.project = envelope.data.project;
      return;
    case 'project.member.added': {
      const { member } = envelope.data;
      data.members = [...data.members.filter((m) => m.userId !== member.userId), member].sort(byRole);
      return;
    }
    case 'project.member.removed': {
      const { userId } = envelope.data;
      data.members = data.members.filter((m) => m.userId !== userId);
      if (userId === reader.userId && reader.guest) data.lost = true;
      return;
    }
    case 'project.files.updated': {
      const removed = new Set(envelope.data.removedIds ?? []);
      const added = envelope.data.added ?? [];
      const addedIds = new Set(added.map((f) => f.id));
      if (removed.size === 0 && added.length === 0) return;
      const kept = data.files.filter((f) => !removed.has(f.id) && !addedIds.has(f.id));
      data.files = [...added.filter((f) => !removed.has(f.id)), ...kept].sort(newestFirst);
      return;
    }
    case 'project.metrics.updated':
      data.metrics = envelope.data.metrics;
      if (envelope.data.due) data.due = envelope.data.due;
      return;
    case 'project.activity.created': {
      const { activity } = envelope.data;
      if (data.activity.some((a) => a.id === activity.id)) return;
      data.activity = [activity, ...data.activity].sort(newestFirst).slice(0, ACTIVITY_KEPT);
      return;
    }
    case 'kanban.task.updated': {
      const { taskId, changes } = envelope.data;
      const title = (changes as { title?: unknown }).title;
      if (typeof title !== 'string' || !data.files.some((f) => f.taskId === taskId && f.taskTitle !== title)) return;
      data.files = data.files.map((f) => (f.taskId === taskId ? { ...f, taskTitle: title } : f));
      return;
    }
    default:
      return;
  }
}

export function applyProjectPageEvents(data: ProjectData, envelopes: readonly AnyProjectEnvelope[], reader: Reader): void {
  for (const envelope of envelopes) applyProjectPageEvent(data, envelope, reader);
}

/**
 * The project page's own durable state as plain data, for soak verification. Metrics and due days
 * are left out: they are derived, and overdue counts change with the date, not with events.
 */
export function comparableProject(data: ProjectData | null): unknown {
  if (!data) return null;
  return {
    project: data.project,
    // Names and task titles shown beside them change through other rooms: compare who and what.
    members: Object.fromEntries(data.members.map((m) => [m.userId, m.role])),
    files: data.files.map((f) => f.id).sort(),
  };
}
