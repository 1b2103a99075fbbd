import { describe, expect, it } from 'vitest';
import { projectOut } from '../project/fixtures';
import { applyBoardEvents, boardFromSnapshot } from '../reducers/board';
import { applyTaskEvents, taskFromSnapshot } from '../reducers/task';
import { taskSnapshot } from '../task/fixtures';
import { snapshot, task } from './fixtures';

const updated = (status: 'archived' | 'active', id = 'p_1') =>
  ({
    event: 'project.updated',
    seq: 5,
    room: `project:${id}`,
    data: { organizationId: 'org_1', projectId: id, changes: { status }, project: projectOut({ id, status, columns: ['To Do', 'In Progress', 'Review', 'Done'] }), updatedBy: 'u_lead' },
  }) as const;

describe('an archived project', () => {
  it('makes the board read-only live, and reopening it undoes that', () => {
    const data = boardFromSnapshot(snapshot([task('t_1', 'To Do', 'b')]));
    expect(data.archived).toBe(false);
    applyBoardEvents(data, [updated('archived')]);
    expect(data.archived).toBe(true);
    applyBoardEvents(data, [updated('active')]);
    expect(data.archived).toBe(false);
  });

  it("tells the task page its project's status", () => {
    const data = taskFromSnapshot(taskSnapshot());
    expect(data.projectStatus).toBeNull();
    applyTaskEvents(data, [updated('archived')]);
    expect(data.projectStatus).toBe('archived');
    applyTaskEvents(data, [updated('active', 'p_9')]);
    expect(data.projectStatus).toBe('archived');
  });
});
