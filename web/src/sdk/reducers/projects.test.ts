import { describe, expect, it } from 'vitest';
import type { Envelope } from '../events.gen';
import { applyProjectEvents, applyProjectsSnapshot, progress, ProjectsStore, type Project, type ProjectListEvent } from './projects';

function project(id: string, overrides: Partial<Project> = {}): Project {
  return {
    id,
    orgId: 'org_1',
    name: `Project ${id}`,
    description: '',
    status: 'active',
    startDate: null,
    dueDate: null,
    columns: ['To Do', 'Done'],
    createdBy: 'u_1',
    createdAt: '2026-12-01T00:00:00.000Z',
    updatedAt: '2026-12-01T00:00:00.000Z',
    ...overrides,
  };
}

function envelope(event: ProjectListEvent, data: unknown, seq: number): Envelope<ProjectListEvent> {
  return { event, version: 1, seq, room: 'user:u_1', data, meta: { emittedAt: '', producer: 'server', traceId: '', actorId: 'u_1' } } as unknown as Envelope<ProjectListEvent>;
}

const me = { userId: 'u_2', guest: true };

describe('the projects list reducer', () => {
  it('adds, changes and counts projects, and drops one a Guest was taken off', () => {
    const store = new ProjectsStore();
    const metrics = { columns: [{ name: 'To Do', count: 1 }, { name: 'Done', count: 1 }], total: 2, done: 1 };
    applyProjectsSnapshot(store, { projects: [project('p_1')], metrics: { p_1: metrics }, cursor: 3 });
    expect(progress(store.peek('p_1')!.metrics)).toBe(50);

    applyProjectEvents(store, [envelope('project.created', { organizationId: 'org_1', project: project('p_2'), createdBy: 'u_1' }, 4)], me);
    expect(store.peek('p_2')!.metrics).toEqual({ columns: [{ name: 'To Do', count: 0 }, { name: 'Done', count: 0 }], total: 0, done: 0 });

    applyProjectEvents(
      store,
      [
        envelope('project.updated', { organizationId: 'org_1', projectId: 'p_1', changes: { name: 'Renamed' }, project: project('p_1', { name: 'Renamed' }), updatedBy: 'u_1', tasks: [] }, 5),
        envelope('project.metrics.updated', { projectId: 'p_1', metrics: { ...metrics, total: 3, columns: [{ name: 'To Do', count: 2 }, { name: 'Done', count: 1 }] } }, 6),
      ],
      me,
    );
    expect(store.peek('p_1')!.project.name).toBe('Renamed');
    expect(store.peek('p_1')!.metrics.total).toBe(3);

    applyProjectEvents(store, [envelope('project.member.removed', { projectId: 'p_2', userId: 'u_3', removedBy: 'u_1' }, 7)], me);
    expect(store.has('p_2')).toBe(true);
    applyProjectEvents(store, [envelope('project.member.removed', { projectId: 'p_2', userId: 'u_2', removedBy: 'u_1' }, 8)], me);
    expect(store.has('p_2')).toBe(false);
  });
});
