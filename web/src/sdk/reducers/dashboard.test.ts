import { describe, expect, it } from 'vitest';
import type { Envelope } from '../events.gen';
import { ACTIVITY_KEPT, applyDashboardEvents, applyDashboardSnapshot, DashboardStore, mergeSeries, type Activity, type DashboardMetrics } from './dashboard';

function metrics(overrides: Partial<DashboardMetrics> = {}): DashboardMetrics {
  return {
    openTasks: 3,
    completedTasks: 1,
    overdueTasks: 0,
    activeProjects: 1,
    tasksByStatus: [{ status: 'To Do', count: 3 }],
    tasksByAssignee: [{ assigneeId: null, open: 3, completed: 1 }],
    burndownSeries: [
      { t: '2026-12-01', v: 2 },
      { t: '2026-12-02', v: 3 },
      { t: '2026-12-03', v: 3 },
    ],
    burndownStart: '2026-12-01',
    completedPerWeek: [{ t: '2026-11-30', v: 1 }],
    completedPerWeekStart: '2026-11-30',
    ...overrides,
  };
}

function activity(id: string, createdAt: string): Activity {
  return {
    id,
    organizationId: 'org_1',
    projectId: 'p_1',
    actorId: 'u_1',
    verb: 'created',
    target: { kind: 'task', id: 't_1', title: 'A task' },
    detail: null,
    createdAt,
  };
}

function envelope<E extends 'dashboard.metrics.updated' | 'dashboard.activity.created'>(event: E, data: Envelope<E>['data'], seq: number): Envelope<E> {
  return { event, version: 1, seq, room: 'dashboard:org_1', data, meta: { emittedAt: '', producer: 'server', traceId: '', actorId: null } } as unknown as Envelope<E>;
}

describe('mergeSeries', () => {
  it('sets changed points by day, drops those before the start and keeps day order', () => {
    const merged = mergeSeries(
      [
        { t: '2026-12-01', v: 2 },
        { t: '2026-12-02', v: 3 },
      ],
      [
        { t: '2026-12-03', v: 5 },
        { t: '2026-12-02', v: 4 },
      ],
      '2026-12-02',
    );
    expect(merged).toEqual([
      { t: '2026-12-02', v: 4 },
      { t: '2026-12-03', v: 5 },
    ]);
  });
});

describe('applyDashboardEvents', () => {
  it('takes counts whole and series as changed points', () => {
    const store = new DashboardStore();
    applyDashboardSnapshot(store, { metrics: metrics(), activity: [], cursor: 4 });
    const update = metrics({ openTasks: 4, burndownSeries: [{ t: '2026-12-03', v: 4 }], completedPerWeek: [] });
    applyDashboardEvents(store, [envelope('dashboard.metrics.updated', { organizationId: 'org_1', metrics: update }, 5)]);
    const now = store.metrics.value!;
    expect(now.openTasks).toBe(4);
    expect(now.burndownSeries.map((p) => p.v)).toEqual([2, 3, 4]);
    expect(now.completedPerWeek).toEqual([{ t: '2026-11-30', v: 1 }]);
  });

  it('puts new activity first, once, and keeps a bounded feed', () => {
    const store = new DashboardStore();
    applyDashboardSnapshot(store, { metrics: metrics(), activity: [activity('a_1', '2026-12-03T10:00:00.000Z')], cursor: 1 });
    const line = activity('a_2', '2026-12-03T11:00:00.000Z');
    applyDashboardEvents(store, [
      envelope('dashboard.activity.created', { organizationId: 'org_1', activity: line }, 2),
      envelope('dashboard.activity.created', { organizationId: 'org_1', activity: line }, 2),
    ]);
    expect(store.activity.value.map((a) => a.id)).toEqual(['a_2', 'a_1']);
    const many = Array.from({ length: ACTIVITY_KEPT + 5 }, (_, i) =>
      envelope('dashboard.activity.created', { organizationId: 'org_1', activity: activity(`a_x${i}`, `2026-12-03T12:${String(i).padStart(2, '0')}:00.000Z`) }, 3 + i),
    );
    applyDashboardEvents(store, many);
    expect(store.activity.value).toHaveLength(ACTIVITY_KEPT);
    expect(store.activity.value[0].id).toBe(`a_x${ACTIVITY_KEPT + 4}`);
  });
});
