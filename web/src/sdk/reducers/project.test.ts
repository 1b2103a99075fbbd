import { describe, expect, it } from 'vitest';
import { activity, file, member, metrics, pageSnapshot, projectOut } from '../project/fixtures';
import type { AnyProjectEnvelope } from '../project/types';
import { ACTIVITY_KEPT, applyProjectPageEvents, projectFromSnapshot, type Reader } from './project';

const lead: Reader = { userId: 'u_lead', guest: false };

function apply(events: AnyProjectEnvelope[], reader: Reader = lead) {
  const data = projectFromSnapshot(pageSnapshot());
  applyProjectPageEvents(data, events, reader);
  return data;
}

const memberAdded = (m: ReturnType<typeof member>, seq: number): AnyProjectEnvelope => ({
  event: 'project.member.added',
  seq,
  data: { projectId: 'p_1', member: m, addedBy: 'u_lead', project: projectOut() },
});

describe('the project page reducer', () => {
  it('sorts the snapshot members Leads first', () => {
    const data = projectFromSnapshot(pageSnapshot());
    expect(data.members.map((m) => m.userId)).toEqual(['u_lead', 'u_view']);
    expect(data.lost).toBe(false);
  });

  it('replaces the project on project.updated, and the same event twice changes nothing more', () => {
    const updated: AnyProjectEnvelope = {
      event: 'project.updated',
      seq: 11,
      data: { organizationId: 'org_1', projectId: 'p_1', changes: { status: 'on_hold' }, project: projectOut({ status: 'on_hold', description: 'New' }), updatedBy: 'u_lead' },
    };
    const data = apply([updated, updated]);
    expect(data.project).toMatchObject({ status: 'on_hold', description: 'New' });
  });

  it('ignores events about another project', () => {
    const data = apply([
      { event: 'project.updated', seq: 11, data: { organizationId: 'org_1', projectId: 'p_9', changes: {}, project: projectOut({ id: 'p_9', name: 'Other' }), updatedBy: 'u_x' } },
      { event: 'project.member.removed', seq: 12, data: { projectId: 'p_9', userId: 'u_view', removedBy: 'u_x' } },
    ]);
    expect(data.project.name).toBe('Rover');
    expect(data.members).toHaveLength(2);
  });

  it('upserts members by user id (a role change is an added event) and removes them', () => {
    const added = memberAdded(member('u_new', 'Contributor', 'Nia'), 11);
    let data = apply([added, added]);
    expect(data.members.map((m) => [m.userId, m.role])).toEqual([
      ['u_lead', 'Lead'],
      ['u_new', 'Contributor'],
      ['u_view', 'Viewer'],
    ]);
    data = apply([added, memberAdded(member('u_new', 'Lead', 'Nia'), 12)]);
    expect(data.members.filter((m) => m.userId === 'u_new')).toEqual([member('u_new', 'Lead', 'Nia')]);
    const removed: AnyProjectEnvelope = { event: 'project.member.removed', seq: 13, data: { projectId: 'p_1', userId: 'u_view', removedBy: 'u_lead' } };
    data = apply([removed, removed]);
    expect(data.members.map((m) => m.userId)).toEqual(['u_lead']);
    expect(data.lost).toBe(false);
  });

  it('loses access when the reader is a Guest taken off the project, not when another is', () => {
    const removed: AnyProjectEnvelope = { event: 'project.member.removed', seq: 13, data: { projectId: 'p_1', userId: 'u_view', removedBy: 'u_lead' } };
    expect(apply([removed], { userId: 'u_view', guest: true }).lost).toBe(true);
    // An org member taken off a project still sees it.
    expect(apply([removed], { userId: 'u_view', guest: false }).lost).toBe(false);
    expect(apply([removed], { userId: 'u_other', guest: true }).lost).toBe(false);
  });

  it('adds files newest first and removes them, a repeated add keeping one copy', () => {
    const added: AnyProjectEnvelope = { event: 'project.files.updated', seq: 11, data: { projectId: 'p_1', added: [file('f_3', 't_1', '2026-12-03T10:00:00Z')] } };
    let data = apply([added, added]);
    expect(data.files.map((f) => f.id)).toEqual(['f_3', 'f_2', 'f_1']);
    data = apply([added, { event: 'project.files.updated', seq: 12, data: { projectId: 'p_1', removedIds: ['f_2', 'f_3'] } }]);
    expect(data.files.map((f) => f.id)).toEqual(['f_1']);
  });

  it('replaces the counters and the due days', () => {
    const next = metrics({ done: 2, open: 2, completionPercent: 50 });
    const due = [{ date: '2026-12-11', open: 0, done: 1 }];
    const data = apply([{ event: 'project.metrics.updated', seq: 11, data: { projectId: 'p_1', metrics: next, due } }]);
    expect(data.metrics).toEqual(next);
    expect(data.due).toEqual(due);
    // Counters without the due days leave the days as they were.
    const only = apply([{ event: 'project.metrics.updated', seq: 11, data: { projectId: 'p_1', metrics: next } }]);
    expect(only.due).toEqual(pageSnapshot().due);
  });

  it('prepends activity once each, keeping the newest few', () => {
    const created = (i: number): AnyProjectEnvelope => ({
      event: 'project.activity.created',
      seq: 100 + i,
      data: { projectId: 'p_1', activity: activity(`ac_n${i}`, `2026-12-02T10:00:${String(i).padStart(2, '0')}Z`) },
    });
    let data = apply([created(1), created(1)]);
    expect(data.activity.map((a) => a.id)).toEqual(['ac_n1', 'ac_1']);
    data = apply(Array.from({ length: 30 }, (_, i) => created(i + 1)));
    expect(data.activity).toHaveLength(ACTIVITY_KEPT);
    expect(data.activity[0].id).toBe('ac_n30');
  });

  it("renames a task's files when the board renames the task, and ignores the board's other events", () => {
    const data = apply([
      { event: 'kanban.task.updated', seq: 11, data: { projectId: 'p_1', taskId: 't_1', changes: { title: 'Renamed' }, updatedBy: 'u_lead', rev: 2, updatedAt: 'x' } },
      { event: 'kanban.task.updated', seq: 12, data: { projectId: 'p_1', taskId: 't_2', changes: { priority: 'High' }, updatedBy: 'u_lead', rev: 2, updatedAt: 'x' } },
      { event: 'kanban.task.deleted', seq: 13, data: { projectId: 'p_1', taskId: 't_2', status: 'To Do', deletedBy: 'u_lead' } },
    ]);
    expect(data.files.map((f) => f.taskTitle)).toEqual(['Task t_2', 'Renamed']);
    expect(data.members).toHaveLength(2);
  });
});
