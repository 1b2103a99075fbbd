import { describe, expect, it } from 'vitest';
import { member } from '../../sdk/project/fixtures';
import { addable, canManage, dueNote, MAX_BARS, roleOf, timelineOf } from './view';

describe('the project page view', () => {
  it('lets Leads and the org Owners and Admins manage, nobody else', () => {
    expect(canManage('Owner', null)).toBe(true);
    expect(canManage('Admin', 'Viewer')).toBe(true);
    expect(canManage('Member', 'Lead')).toBe(true);
    expect(canManage('Guest', 'Lead')).toBe(true);
    expect(canManage('Member', 'Contributor')).toBe(false);
    expect(canManage('Member', null)).toBe(false);
    expect(canManage(undefined, undefined)).toBe(false);
    expect(roleOf([member('u_1', 'Lead')], 'u_1')).toBe('Lead');
    expect(roleOf([member('u_1', 'Lead')], 'u_2')).toBeNull();
  });

  it('offers the active people who are not on the project yet', () => {
    const people = [
      { userId: 'u_1', status: 'active' },
      { userId: 'u_2', status: 'invited' },
      { userId: 'u_3', status: 'active' },
    ];
    expect(addable(people, [member('u_1', 'Lead')]).map((p) => p.userId)).toEqual(['u_3']);
  });

  it('puts the span, today and the due days on one range of whole days', () => {
    const t = timelineOf({ startDate: '2026-12-01', dueDate: '2026-12-10' }, [{ date: '2026-12-03', open: 2, done: 1 }], '2026-12-05');
    expect(t.from).toBe('2026-12-01');
    expect(t.to).toBe('2026-12-10');
    expect(t.bucketDays).toBe(1);
    expect(t.days).toHaveLength(10);
    expect(t.open[2]).toBe(2);
    expect(t.done[2]).toBe(1);
    expect(t.startAt).toBe(0);
    expect(t.dueAt).toBe(100);
    expect(t.todayAt).toBeCloseTo((4 / 9) * 100);
    expect(t.lateOpen).toBe(2);
  });

  it('stretches the range to today and to tasks due outside the span, and groups a long one', () => {
    const t = timelineOf({ startDate: null, dueDate: null }, [{ date: '2026-01-01', open: 1, done: 0 }, { date: '2026-12-31', open: 0, done: 3 }], '2026-06-01');
    expect(t.from).toBe('2026-01-01');
    expect(t.to).toBe('2026-12-31');
    expect(t.days.length).toBeLessThanOrEqual(MAX_BARS);
    expect(t.bucketDays).toBeGreaterThan(1);
    expect(t.open.reduce((a, b) => a + b)).toBe(1);
    expect(t.done.reduce((a, b) => a + b)).toBe(3);
    expect(t.startAt).toBeNull();
    expect(t.dueAt).toBeNull();
  });

  it('draws a project with no dates at all around today', () => {
    const t = timelineOf({ startDate: null, dueDate: null }, [], '2026-06-01');
    expect(t.days).toEqual(['2026-06-01']);
    expect(t.todayAt).toBe(50);
  });

  it('says how long is left or how late it is', () => {
    expect(dueNote({ dueDate: '2026-12-10', status: 'active' }, '2026-12-05')).toBe('5 days left');
    expect(dueNote({ dueDate: '2026-12-10', status: 'active' }, '2026-12-11')).toBe('1 day late');
    expect(dueNote({ dueDate: '2026-12-10', status: 'active' }, '2026-12-10')).toBe('due today');
    expect(dueNote({ dueDate: '2026-12-10', status: 'completed' }, '2026-12-11')).toBeNull();
    expect(dueNote({ dueDate: null, status: 'active' }, '2026-12-11')).toBeNull();
  });
});
