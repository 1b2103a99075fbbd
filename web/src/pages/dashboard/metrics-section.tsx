import { useComputed } from '@preact/signals';
import { useEffect, useMemo } from 'preact/hooks';
import { client } from '../../app/session';
import { toastReaderError } from '../../app/toasts';
import { watchDashboard } from '../../sdk/domains/dashboard';
import type { Activity, DashboardMetrics } from '../../sdk/reducers/dashboard';
import { ChartView } from '../../ui/chart';
import { RelativeTime } from '../../ui/time';

/** The chart palette: the accent first, then hues that stay apart in light and dark themes. */
const PALETTE = ['#5e6ad2', '#2f9e62', '#c98a1b', '#d1453b', '#3aa0c8', '#9a5bd1', '#8a8d96', '#d16fa5'];

export interface MetricsContext {
  orgId: string;
  meId: string;
  guest: boolean;
  /** A person's name by user id, from the live members table. */
  nameOf: (userId: string | null) => string;
}

export function MetricsSection({ ctx }: { ctx: MetricsContext }) {
  const live = useMemo(
    () => watchDashboard(client, ctx.orgId, { guest: ctx.guest, userId: ctx.meId }, toastReaderError),
    [ctx.orgId, ctx.guest, ctx.meId],
  );
  useEffect(() => () => live.subscription.close(), [live]);
  const metrics = live.store.metrics.value;
  const status = live.subscription.status.value;
  if (!metrics) {
    return (
      <section class="card" aria-label="Tasks and projects">
        <p class="loading" data-testid="metrics-loading">
          {status === 'error' ? 'The dashboard could not be loaded.' : 'Loading the dashboard…'}
        </p>
      </section>
    );
  }
  return (
    <>
      <Tiles metrics={metrics} guest={ctx.guest} />
      <Charts metrics={metrics} nameOf={ctx.nameOf} />
      <ActivityFeed activity={live.store.activity.value} nameOf={ctx.nameOf} />
    </>
  );
}

function Tiles({ metrics, guest }: { metrics: DashboardMetrics; guest: boolean }) {
  const tiles: Array<[string, number, string, string?]> = [
    ['Open tasks', metrics.openTasks, 'kpi-open'],
    ['Completed', metrics.completedTasks, 'kpi-completed'],
    ['Overdue', metrics.overdueTasks, 'kpi-overdue', metrics.overdueTasks > 0 ? 'kpi-alert' : undefined],
    ['Active projects', metrics.activeProjects, 'kpi-projects'],
  ];
  return (
    <section class="kpis" aria-label={guest ? 'Your projects at a glance' : 'The organization at a glance'}>
      {tiles.map(([label, value, testid, tone]) => (
        <div class={`card kpi ${tone ?? ''}`} key={testid}>
          <span class="kpi-label">{label}</span>
          <span class="kpi-value" data-testid={testid}>
            {value.toLocaleString()}
          </span>
        </div>
      ))}
    </section>
  );
}

function shortDay(day: string): string {
  const date = new Date(`${day}T00:00:00Z`);
  return date.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

function Charts({ metrics, nameOf }: { metrics: DashboardMetrics; nameOf: MetricsContext['nameOf'] }) {
  const burndown = metrics.burndownSeries;
  const weeks = metrics.completedPerWeek;
  const statuses = metrics.tasksByStatus;
  const people = useComputed(() => metrics.tasksByAssignee.filter((a) => a.open + a.completed > 0).slice(0, 12));
  return (
    <section class="charts" aria-label="Charts">
      <figure class="card chart-card">
        <figcaption>Open tasks, last 30 days</figcaption>
        <ChartView
          type="line"
          testid="chart-burndown"
          labels={burndown.map((p) => shortDay(p.t))}
          series={[{ label: 'Open tasks', values: burndown.map((p) => p.v), color: PALETTE[0], fill: true }]}
          summary={`Open tasks per day; today ${burndown.at(-1)?.v ?? 0}`}
        />
      </figure>
      <figure class="card chart-card">
        <figcaption>Tasks by status</figcaption>
        <ChartView
          type="doughnut"
          testid="chart-status"
          labels={statuses.map((s) => s.status)}
          series={[{ label: 'Tasks', values: statuses.map((s) => s.count), color: statuses.map((_, i) => PALETTE[i % PALETTE.length]) }]}
          summary={statuses.map((s) => `${s.status}: ${s.count}`).join(', ') || 'No tasks'}
          empty={statuses.every((s) => s.count === 0) ? 'No tasks yet' : null}
        />
      </figure>
      <figure class="card chart-card">
        <figcaption>Completed per week</figcaption>
        <ChartView
          type="bar"
          testid="chart-weekly"
          labels={weeks.map((p) => shortDay(p.t))}
          series={[{ label: 'Completed', values: weeks.map((p) => p.v), color: PALETTE[1] }]}
          summary={`Tasks completed per week; this week ${weeks.at(-1)?.v ?? 0}`}
        />
      </figure>
      <figure class="card chart-card">
        <figcaption>Tasks by assignee</figcaption>
        <ChartView
          type="bar"
          horizontal
          testid="chart-assignees"
          labels={people.value.map((a) => (a.assigneeId ? nameOf(a.assigneeId) : 'Unassigned'))}
          series={[
            { label: 'Open', values: people.value.map((a) => a.open), color: PALETTE[0] },
            { label: 'Completed', values: people.value.map((a) => a.completed), color: PALETTE[1] },
          ]}
          summary={people.value.map((a) => `${a.assigneeId ? nameOf(a.assigneeId) : 'Unassigned'}: ${a.open} open`).join(', ') || 'No tasks'}
          empty={people.value.length === 0 ? 'No tasks yet' : null}
        />
      </figure>
    </section>
  );
}

const VERBS: Record<Activity['verb'], string> = {
  created: 'created',
  updated: 'updated',
  moved: 'moved',
  completed: 'completed',
  reopened: 'reopened',
  deleted: 'deleted',
};

function describe(line: Activity): string {
  const what = line.target.kind === 'project' ? `project “${line.target.title}”` : `“${line.target.title}”`;
  const detail = line.detail ?? {};
  if (line.verb === 'moved' && detail.fromColumn && detail.toColumn) return `moved ${what} from ${detail.fromColumn} to ${detail.toColumn}`;
  return `${VERBS[line.verb]} ${what}`;
}

/** The activity lines as the dashboard and the project page show them, newest first. */
export function ActivityFeed({ activity, nameOf }: { activity: readonly Activity[]; nameOf: MetricsContext['nameOf'] }) {
  return (
    <section class="card" aria-labelledby="activity-heading">
      <div class="card-header">
        <h2 id="activity-heading">Activity</h2>
      </div>
      {activity.length === 0 ? (
        <p class="loading">Nothing has happened yet.</p>
      ) : (
        <ol class="activity" data-testid="activity">
          {activity.slice(0, 15).map((line) => (
            <li key={line.id} data-testid="activity-line">
              <span class="activity-actor">{nameOf(line.actorId)}</span> <span>{describe(line)}</span>
              <span class="activity-time muted">
                <RelativeTime iso={line.createdAt} />
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
