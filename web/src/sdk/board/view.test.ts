import { effect } from '@preact/signals';
import { describe, expect, it } from 'vitest';
import { boardFromSnapshot, applyBoardEvents } from '../reducers/board';
import { moved, snapshot, task, updated } from './fixtures';
import { project } from './overlay';
import { BoardView } from './view';

describe('the board view', () => {
  it('re-renders only the card and the columns an event changed', () => {
    const data = boardFromSnapshot(snapshot([task('t_1', 'To Do', 'b'), task('t_2', 'To Do', 'd'), task('t_3', 'Review', 'm')]));
    const view = new BoardView();
    view.update(project(data, []), data.columns);
    const runs: Record<string, number> = {};
    const watch = (key: string, read: () => unknown) =>
      effect(() => {
        read();
        runs[key] = (runs[key] ?? 0) + 1;
      });
    for (const id of ['t_1', 't_2', 't_3']) watch(id, () => view.card(id)!.value);
    for (const column of data.columns) watch(column, () => view.ids(column).value);

    applyBoardEvents(data, [updated('t_2', { title: 'Renamed' }, 2)]);
    view.update(project(data, []), data.columns);
    expect(runs).toEqual({ t_1: 1, t_2: 2, t_3: 1, 'To Do': 1, 'In Progress': 1, Review: 1, Done: 1 });

    applyBoardEvents(data, [moved('t_1', 'To Do', 'Done', 'k', 2)]);
    view.update(project(data, []), data.columns);
    expect(runs).toEqual({ t_1: 2, t_2: 2, t_3: 1, 'To Do': 2, 'In Progress': 1, Review: 1, Done: 2 });
    expect(view.locate('t_1')).toEqual({ column: 'Done', index: 0 });
  });
});
