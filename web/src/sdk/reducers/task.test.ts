import { describe, expect, it } from 'vitest';
import { activity, attachment, comment, subtask, taskSnapshot } from '../task/fixtures';
import { applyTaskEvents, progressOf, taskFromSnapshot } from './task';

describe('task page reducer', () => {
  it('sorts the snapshot subtasks by rank and keeps subtasks sorted as events move them', () => {
    const data = taskFromSnapshot(taskSnapshot({ subtasks: [subtask('st_2', 'n'), subtask('st_1', 'c')] }));
    expect(data.subtasks.map((s) => s.id)).toEqual(['st_1', 'st_2']);
    applyTaskEvents(data, [
      { event: 'task.subtask.updated', data: { taskId: 't_1', subtask: subtask('st_1', 'z', { done: true }), changes: ['rank', 'done'], updatedBy: 'u_grace' } },
      { event: 'task.subtask.created', data: { taskId: 't_1', subtask: subtask('st_3', 'a'), clientId: 'c_1' } },
    ]);
    expect(data.subtasks.map((s) => s.id)).toEqual(['st_3', 'st_2', 'st_1']);
    expect(progressOf(data.subtasks)).toEqual({ done: 1, total: 3 });
    expect(data.seenClientIds.has('c_1')).toBe(true);
    applyTaskEvents(data, [{ event: 'task.subtask.deleted', data: { taskId: 't_1', subtaskId: 'st_2', deletedBy: 'u_grace' } }]);
    expect(data.subtasks.map((s) => s.id)).toEqual(['st_3', 'st_1']);
  });

  it('adds, edits and deletes comments, and a replayed create does not add one twice', () => {
    const data = taskFromSnapshot(taskSnapshot({ comments: [comment('cm_1', 'hello')] }));
    const created = { event: 'task.comment.created' as const, data: { taskId: 't_1', comment: comment('cm_2', 'second'), clientId: 'c_2' } };
    applyTaskEvents(data, [created, created]);
    expect(data.comments.map((c) => c.text)).toEqual(['hello', 'second']);
    applyTaskEvents(data, [{ event: 'task.comment.updated', data: { taskId: 't_1', comment: { ...comment('cm_1', 'hello again'), editedAt: '2026-12-01T11:00:00Z' } } }]);
    expect(data.comments[0]).toMatchObject({ text: 'hello again', editedAt: '2026-12-01T11:00:00Z' });
    applyTaskEvents(data, [{ event: 'task.comment.deleted', data: { taskId: 't_1', commentId: 'cm_1', deletedBy: 'u_me' } }]);
    expect(data.comments.map((c) => c.id)).toEqual(['cm_2']);
  });

  it('puts new attachments and activity first, keeping the newest 50 activities', () => {
    const data = taskFromSnapshot(taskSnapshot({ attachments: [attachment('att_1', 'a.txt')], activity: [activity('ac_0', 'created')] }));
    applyTaskEvents(data, [{ event: 'task.attachment.added', data: { taskId: 't_1', attachment: attachment('att_2', 'b.txt') } }]);
    expect(data.attachments.map((a) => a.id)).toEqual(['att_2', 'att_1']);
    applyTaskEvents(data, [{ event: 'task.attachment.removed', data: { taskId: 't_1', attachmentId: 'att_1', removedBy: 'u_grace' } }]);
    expect(data.attachments.map((a) => a.id)).toEqual(['att_2']);
    for (let i = 1; i <= 60; i++) applyTaskEvents(data, [{ event: 'task.activity.created', data: { taskId: 't_1', activity: activity(`ac_${i}`, `change ${i}`) } }]);
    expect(data.activity).toHaveLength(50);
    expect(data.activity[0].id).toBe('ac_60');
  });

  it('takes field changes from either room once, never going back to an older rev', () => {
    const data = taskFromSnapshot(taskSnapshot());
    applyTaskEvents(data, [
      { event: 'task.updated', data: { taskId: 't_1', changes: { priority: 'Urgent' }, updatedBy: 'u_grace', rev: 3, updatedAt: 'x', clientId: 'c_3' } },
      { event: 'kanban.task.updated', data: { projectId: 'p_1', taskId: 't_1', changes: { priority: 'High' }, updatedBy: 'u_grace', rev: 2, updatedAt: 'y' } },
      { event: 'kanban.task.moved', data: { projectId: 'p_1', taskId: 't_1', toColumn: 'Done', rank: 'b', rev: 4, updatedAt: 'z', completedAt: 'z', movedBy: 'u_grace' } },
    ]);
    expect(data.task).toMatchObject({ priority: 'Urgent', status: 'Done', rev: 4 });
    expect(data.seenClientIds.has('c_3')).toBe(true);
  });

  it('ignores the project room events of other tasks, and marks the task gone when it is deleted', () => {
    const data = taskFromSnapshot(taskSnapshot());
    applyTaskEvents(data, [
      { event: 'kanban.task.updated', data: { projectId: 'p_1', taskId: 't_9', changes: { title: 'Other' }, updatedBy: 'u_grace', rev: 9, updatedAt: 'x' } },
      { event: 'kanban.task.deleted', data: { projectId: 'p_1', taskId: 't_9' } },
    ]);
    expect(data.task.title).toBe('Write the launch post');
    expect(data.gone).toBe(false);
    applyTaskEvents(data, [{ event: 'kanban.task.deleted', data: { projectId: 'p_1', taskId: 't_1' } }]);
    expect(data.gone).toBe(true);
  });
});
