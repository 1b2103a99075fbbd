import { describe, expect, it } from 'vitest';
import { created, deleted, moved, snapshot, task, updated } from '../board/fixtures';
import { applyBoardEvents, boardFromSnapshot, columnCounts, columnOrder } from './board';

const base = () => boardFromSnapshot(snapshot([task('t_1', 'To Do', 'b'), task('t_2', 'To Do', 'd'), task('t_3', 'Review', 'm')]));

describe('the board reducer', () => {
  it('orders each column by rank and counts it, empty columns included', () => {
    const data = base();
    expect(Object.fromEntries(columnOrder(data))).toEqual({ 'To Do': ['t_1', 't_2'], 'In Progress': [], Review: ['t_3'], Done: [] });
    expect(columnCounts(columnOrder(data)).get('To Do')).toBe(2);
  });

  it('applies created, updated, moved and deleted, keeping counts right', () => {
    const data = base();
    applyBoardEvents(data, [
      created(task('t_4', 'To Do', 'a')),
      updated('t_1', { title: 'Renamed', priority: 'High' }, 2),
      moved('t_2', 'To Do', 'Done', 'k', 2),
      deleted('t_3', 'Review'),
    ]);
    const order = columnOrder(data);
    expect(order.get('To Do')).toEqual(['t_4', 't_1']);
    expect(order.get('Done')).toEqual(['t_2']);
    expect(order.get('Review')).toEqual([]);
    expect(data.tasks.get('t_1')).toMatchObject({ title: 'Renamed', priority: 'High', rev: 2 });
    expect(data.gone.has('t_3')).toBe(true);
    expect([...columnCounts(order).values()]).toEqual([2, 0, 0, 1]);
  });

  it('takes the rebalanced ranks an event carries, so the order follows the server', () => {
    const data = base();
    applyBoardEvents(data, [moved('t_3', 'Review', 'To Do', 'c', 2, 'u_other', { rebalanced: { t_1: 'x', t_2: 'y' } })]);
    expect(columnOrder(data).get('To Do')).toEqual(['t_3', 't_1', 't_2']);
    expect(data.tasks.get('t_1')!.rank).toBe('x');
  });

  it('remembers who wrote each field last, and the client ids whose events came back', () => {
    const data = base();
    applyBoardEvents(data, [updated('t_1', { title: 'x' }, 2, 'u_grace', { clientId: 'cl_1' }), moved('t_1', 'To Do', 'Review', 'n', 3, 'u_ada')]);
    expect(data.writers.get('t_1')).toEqual({ title: { userId: 'u_grace', rev: 2 }, status: { userId: 'u_ada', rev: 3 } });
    expect(data.seenClientIds.has('cl_1')).toBe(true);
  });

  it('ignores events about tasks it does not know without inventing them', () => {
    const data = base();
    applyBoardEvents(data, [updated('t_nope', { title: 'x' }, 2), moved('t_nope', 'To Do', 'Done', 'a', 2)]);
    expect(data.tasks.has('t_nope')).toBe(false);
  });

  it('follows a column change that moves tasks with it', () => {
    const data = base();
    const snap = snapshot([]);
    applyBoardEvents(data, [
      {
        event: 'project.updated',
        seq: 999,
        room: 'project:p_1',
        data: {
          organizationId: 'org_1',
          projectId: 'p_1',
          changes: {},
          updatedBy: 'u_other',
          project: { ...snap.project, name: 'Renamed', columns: ['Backlog', 'Review'] },
          tasks: [task('t_1', 'Backlog', 'b', { rev: 2 }), task('t_2', 'Backlog', 'd', { rev: 2 })],
        },
      },
    ]);
    expect(Object.fromEntries(columnOrder(data))).toEqual({ Backlog: ['t_1', 't_2'], Review: ['t_3'] });
    expect(data.name).toBe('Renamed'); // the header follows a rename
  });
});
