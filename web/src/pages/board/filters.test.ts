import { describe, expect, it } from 'vitest';
import { filtersActive, filtersFrom, keyboardTarget, matches, placeAt } from './filters';

const task = (title: string, assigneeId: string | null, priority: 'Low' | 'Medium' | 'High' | 'Urgent') => ({ title, assigneeId, priority });

describe('board filters', () => {
  it('reads the URL query, ignoring a priority that does not exist', () => {
    expect(filtersFrom('?assignee=u_1&priority=High&q=motor')).toEqual({ assignee: 'u_1', priority: 'High', text: 'motor' });
    expect(filtersFrom('?priority=Whenever')).toEqual({ assignee: null, priority: null, text: '' });
    expect(filtersActive(filtersFrom(''))).toBe(false);
  });

  it('matches by assignee (or none), priority and title text, case-insensitively', () => {
    const f = filtersFrom('?assignee=u_1&priority=High&q=MOTOR');
    expect(matches(task('Fix motor drivers', 'u_1', 'High'), f)).toBe(true);
    expect(matches(task('Fix motor drivers', 'u_2', 'High'), f)).toBe(false);
    expect(matches(task('Fix motor drivers', 'u_1', 'Low'), f)).toBe(false);
    expect(matches(task('Ship telemetry', 'u_1', 'High'), f)).toBe(false);
    expect(matches(task('x', null, 'Low'), filtersFrom('?assignee=none'))).toBe(true);
    expect(matches(task('x', 'u_1', 'Low'), filtersFrom('?assignee=none'))).toBe(false);
  });
});

describe('keyboard moves', () => {
  const columns = ['To Do', 'Doing', 'Done'];
  const lists: Record<string, string[]> = { 'To Do': ['a', 'b', 'c'], Doing: ['d'], Done: [] };
  const shown = (c: string) => lists[c];

  it('moves up and down one place, and not past either end', () => {
    expect(keyboardTarget(columns, shown, 'b', 'To Do', 'up')).toEqual({ column: 'To Do', placement: { beforeTaskId: 'a' }, index: 0 });
    expect(keyboardTarget(columns, shown, 'b', 'To Do', 'down')).toEqual({ column: 'To Do', placement: { afterTaskId: 'c' }, index: 2 });
    expect(keyboardTarget(columns, shown, 'a', 'To Do', 'up')).toBeNull();
    expect(keyboardTarget(columns, shown, 'c', 'To Do', 'down')).toBeNull();
  });

  it('moves sideways at the same height, into empty columns too, and not past the edges', () => {
    expect(keyboardTarget(columns, shown, 'c', 'To Do', 'right')).toEqual({ column: 'Doing', placement: { afterTaskId: 'd' }, index: 1 });
    expect(keyboardTarget(columns, shown, 'a', 'To Do', 'right')).toEqual({ column: 'Doing', placement: { beforeTaskId: 'd' }, index: 0 });
    expect(keyboardTarget(columns, shown, 'd', 'Doing', 'right')).toEqual({ column: 'Done', placement: {}, index: 0 });
    expect(keyboardTarget(columns, shown, 'a', 'To Do', 'left')).toBeNull();
  });

  it('places at an index by naming the card that will follow, or the last one', () => {
    expect(placeAt(['x', 'y'], 1)).toEqual({ beforeTaskId: 'y' });
    expect(placeAt(['x', 'y'], 2)).toEqual({ afterTaskId: 'y' });
    expect(placeAt([], 0)).toEqual({});
  });
});
