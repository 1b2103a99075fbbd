import type { DueDay, Project, ProjectActivity, ProjectFile, ProjectMember, ProjectMetrics, ProjectPageSnapshot } from './types';

/** Small builders of project-page wire objects for the SDK's and the page's tests. */

const AT = '2026-12-01T10:00:00Z';

export function projectOut(overrides: Partial<Project> = {}): Project {
  return {
    id: 'p_1',
    orgId: 'org_1',
    name: 'Rover',
    description: 'Drive **far**',
    status: 'active',
    startDate: '2026-11-01',
    dueDate: '2026-12-31',
    columns: ['To Do', 'In Progress', 'Done'],
    createdBy: 'u_lead',
    createdAt: AT,
    updatedAt: AT,
    ...overrides,
  };
}

export const member = (userId: string, role: ProjectMember['role'], name = `Person ${userId}`): ProjectMember => ({ userId, role, name, avatarUrl: null });

export const file = (id: string, taskId: string, createdAt: string, overrides: Partial<ProjectFile> = {}): ProjectFile => ({
  id,
  taskId,
  filename: `${id}.txt`,
  contentType: 'text/plain',
  size: 10,
  uploadedBy: 'u_lead',
  createdAt,
  thumbnailUrl: null,
  url: `/api/attachments/${id}`,
  taskTitle: `Task ${taskId}`,
  uploaderName: 'Person u_lead',
  ...overrides,
});

export const activity = (id: string, createdAt: string): ProjectActivity => ({
  id,
  organizationId: 'org_1',
  projectId: 'p_1',
  actorId: 'u_lead',
  verb: 'updated',
  target: { kind: 'task', id: 't_1', title: 'Task t_1' },
  detail: null,
  createdAt,
});

export function metrics(overrides: Partial<ProjectMetrics> = {}): ProjectMetrics {
  return {
    columns: [
      { name: 'To Do', count: 2 },
      { name: 'In Progress', count: 1 },
      { name: 'Done', count: 1 },
    ],
    total: 4,
    done: 1,
    open: 3,
    overdue: 0,
    completionPercent: 25,
    ...overrides,
  };
}

export function pageSnapshot(overrides: Partial<ProjectPageSnapshot> = {}): ProjectPageSnapshot {
  const due: DueDay[] = [{ date: '2026-12-10', open: 1, done: 0 }];
  return {
    project: projectOut(),
    members: [member('u_view', 'Viewer', 'Viola'), member('u_lead', 'Lead', 'Lena')],
    metrics: metrics(),
    due,
    files: [file('f_2', 't_2', '2026-12-02T10:00:00Z'), file('f_1', 't_1', '2026-12-01T10:00:00Z')],
    activity: [activity('ac_1', AT)],
    cursor: 10,
    ...overrides,
  };
}
