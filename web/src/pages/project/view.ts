import type { DueDay, Project, ProjectMember, ProjectRole, ProjectStatus } from '../../sdk/project/types';

export const STATUS_LABEL: Record<ProjectStatus, string> = {
  active: 'Active',
  on_hold: 'On hold',
  completed: 'Completed',
  archived: 'Archived',
};

export const STATUSES = Object.keys(STATUS_LABEL) as ProjectStatus[];
export const ROLES: readonly ProjectRole[] = ['Lead', 'Contributor', 'Viewer'];

/** The server's rule (projects/policy.py): the project's Leads and the org's Owners and Admins manage it. */
export function canManage(orgRole: string | undefined, projectRole: ProjectRole | null | undefined): boolean {
  return orgRole === 'Owner' || orgRole === 'Admin' || projectRole === 'Lead';
}

export function roleOf(members: readonly ProjectMember[], userId: string): ProjectRole | null {
  return members.find((m) => m.userId === userId)?.role ?? null;
}

/** The org's people who may be added: active, and not on the project yet. */
export function addable<T extends { userId: string; status: string }>(people: readonly T[], members: readonly ProjectMember[]): T[] {
  const on = new Set(members.map((m) => m.userId));
  return people.filter((p) => p.status === 'active' && !on.has(p.userId));
}

const DAY_MS = 86_400_000;

function dayNumber(day: string): number {
  return Math.floor(Date.parse(`${day}T00:00:00Z`) / DAY_MS);
}

function dayOf(n: number): string {
  return new Date(n * DAY_MS).toISOString().slice(0, 10);
}

export function shortDay(day: string): string {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

export function longDay(day: string): string {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' });
}

/** At most this many bars: a long project groups its days. */
export const MAX_BARS = 40;

export interface Timeline {
  /** The first and last day shown. */
  from: string;
  to: string;
  /** One bar per bucket of `bucketDays` days, labelled by its first day. */
  bucketDays: number;
  labels: string[];
  days: string[];
  open: number[];
  done: number[];
  /** Where the project's start, its due date and today fall, in percent of the shown range (null: no such date). */
  startAt: number | null;
  dueAt: number | null;
  todayAt: number;
  /** Tasks due before today that are still open. */
  lateOpen: number;
}

/**
 * The project's span, today and its tasks' due dates on one range: from the earliest of them to
 * the latest, cut into at most MAX_BARS buckets of whole days.
 */
export function timelineOf(project: Pick<Project, 'startDate' | 'dueDate'>, due: readonly DueDay[], today: string): Timeline {
  const points = [today, ...(project.startDate ? [project.startDate] : []), ...(project.dueDate ? [project.dueDate] : []), ...due.map((d) => d.date)].map(dayNumber);
  const first = Math.min(...points);
  const last = Math.max(...points);
  const span = last - first + 1;
  const bucketDays = Math.max(1, Math.ceil(span / MAX_BARS));
  const buckets = Math.ceil(span / bucketDays);
  const open = new Array<number>(buckets).fill(0);
  const done = new Array<number>(buckets).fill(0);
  for (const d of due) {
    const at = Math.floor((dayNumber(d.date) - first) / bucketDays);
    open[at] += d.open;
    done[at] += d.done;
  }
  const days = Array.from({ length: buckets }, (_, i) => dayOf(first + i * bucketDays));
  const at = (day: string | null) => (day ? (span <= 1 ? 50 : ((dayNumber(day) - first) / (span - 1)) * 100) : null);
  const todayN = dayNumber(today);
  return {
    from: dayOf(first),
    to: dayOf(last),
    bucketDays,
    days,
    labels: days.map(shortDay),
    open,
    done,
    startAt: at(project.startDate),
    dueAt: at(project.dueDate),
    todayAt: at(today) ?? 50,
    lateOpen: due.filter((d) => dayNumber(d.date) < todayN).reduce((n, d) => n + d.open, 0),
  };
}

export function formatDays(n: number): string {
  return n === 1 ? '1 day' : `${n} days`;
}

/** "12 days left", "due today", "3 days late" — or nothing without a due date. */
export function dueNote(project: Pick<Project, 'dueDate' | 'status'>, today: string): string | null {
  if (!project.dueDate || project.status === 'completed' || project.status === 'archived') return null;
  const left = dayNumber(project.dueDate) - dayNumber(today);
  if (left === 0) return 'due today';
  return left > 0 ? `${formatDays(left)} left` : `${formatDays(-left)} late`;
}

export function today(): string {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
}
