import type { DueDay, Project, ProjectMetrics } from '../../sdk/project/types';
import { ChartView } from '../../ui/chart';
import { longDay, timelineOf, today } from './view';

const OPEN_COLOR = '#5e6ad2';
const DONE_COLOR = '#2f9e62';

/** Tasks per column, open, done, overdue and the completion percent, as the board counts them. */
export function Counters({ metrics }: { metrics: ProjectMetrics }) {
  const percent = Math.round(metrics.completionPercent ?? 0);
  const overdue = metrics.overdue ?? 0;
  const tiles: Array<[string, number | string, string, string?]> = [
    ['Open', metrics.open ?? metrics.total - metrics.done, 'project-open'],
    ['Done', metrics.done, 'project-done'],
    ['Overdue', overdue, 'project-overdue', overdue > 0 ? 'kpi-alert' : undefined],
    ['Complete', `${percent}%`, 'project-percent'],
  ];
  return (
    <section class="project-counters" aria-label="Counters" data-testid="project-counters">
      <div class="kpis">
        {tiles.map(([label, value, testid, tone]) => (
          <div class={`card kpi ${tone ?? ''}`} key={testid}>
            <span class="kpi-label">{label}</span>
            <span class="kpi-value" data-testid={testid}>
              {typeof value === 'number' ? value.toLocaleString() : value}
            </span>
          </div>
        ))}
      </div>
      <div class="card project-progress">
        <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent} aria-label={`${percent}% of ${metrics.total} tasks done`}>
          <span class="progress-bar" style={{ width: `${percent}%` }} />
        </div>
        <ul class="project-columns" aria-label="Tasks per column">
          {metrics.columns.map((c) => (
            <li key={c.name} data-testid="project-column-count" data-column={c.name}>
              <span class="muted">{c.name}</span> <strong>{c.count}</strong>
            </li>
          ))}
          <li>
            <span class="muted">In all</span> <strong data-testid="project-total">{metrics.total}</strong>
          </li>
        </ul>
      </div>
    </section>
  );
}

/** The project's span and today on a track, its tasks' due dates as bars beneath on the same range. */
export function Timeline({ project, due }: { project: Project; due: readonly DueDay[] }) {
  const now = today();
  const t = timelineOf(project, due, now);
  const spanFrom = t.startAt ?? 0;
  const spanTo = t.dueAt ?? 100;
  const dueCount = due.reduce((n, d) => n + d.open + d.done, 0);
  const span = project.startDate || project.dueDate ? `${project.startDate ? longDay(project.startDate) : 'No start'} – ${project.dueDate ? longDay(project.dueDate) : 'no due date'}` : 'No dates set';
  return (
    <figure class="card project-section project-timeline" data-testid="project-timeline">
      <figcaption class="project-section-head">
        <h2>Timeline</h2>
        <span class="muted" data-testid="project-span">
          {span}
        </span>
      </figcaption>
      <div class="timeline-track" aria-hidden="true">
        <span class="timeline-span" style={{ left: `${Math.min(spanFrom, spanTo)}%`, width: `${Math.max(Math.abs(spanTo - spanFrom), 0.5)}%` }} />
        <span class="timeline-today" style={{ left: `${t.todayAt}%` }} title="Today" />
      </div>
      <div class="timeline-ends muted" aria-hidden="true">
        <span>{longDay(t.from)}</span>
        <span class="timeline-today-label">Today</span>
        <span>{longDay(t.to)}</span>
      </div>
      <ChartView
        type="bar"
        testid="project-due-chart"
        labels={t.labels}
        series={[
          { label: 'Open', values: t.open, color: OPEN_COLOR },
          { label: 'Done', values: t.done, color: DONE_COLOR },
        ]}
        summary={`Tasks by due date${t.bucketDays > 1 ? `, ${t.bucketDays} days a bar` : ''}: ${dueCount} with a due date, ${t.lateOpen} open past it`}
        empty={dueCount === 0 ? 'No task has a due date' : null}
      />
    </figure>
  );
}
