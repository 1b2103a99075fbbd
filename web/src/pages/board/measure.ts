import type { LiveBoard } from '../../sdk/board/live';
import type { AnyBoardEnvelope } from '../../sdk/board/types';

/**
 * Timings the browser tests read (`window.__tandemBoard`): how long the first render of a
 * board took after its snapshot arrived, and how much main-thread time a burst of events
 * costs. Installed only when `localStorage['tandem.testHooks']` is '1'.
 */
export interface BoardTimings {
  /** Snapshot in → its cards in the DOM, ms. */
  renderMs: number | null;
  /** Applies `count` synthetic updates to cards on the board; resolves with {applyMs, totalMs} and
   * how many card titles on the page then carry a burst's rename. */
  burst(count: number): Promise<{ applyMs: number; totalMs: number; renamed: number }>;
}

let loadedAt: number | null = null;
let renderMs: number | null = null;

export const renderClock = {
  start(): void {
    loadedAt = null;
    renderMs = null;
  },
  loaded(): void {
    loadedAt ??= performance.now();
  },
  rendered(): void {
    if (loadedAt !== null && renderMs === null) renderMs = performance.now() - loadedAt;
  },
};

function hooksOn(): boolean {
  try {
    return globalThis.localStorage?.getItem('tandem.testHooks') === '1';
  } catch {
    return false;
  }
}

export function installBoardHooks(board: LiveBoard): (() => void) | undefined {
  if (!hooksOn()) return undefined;
  const timings: BoardTimings = {
    get renderMs() {
      return renderMs;
    },
    async burst(count: number) {
      const tasks = [...(board.data?.tasks.values() ?? [])];
      const priorities = ['Low', 'Medium', 'High', 'Urgent'] as const;
      const events = Array.from({ length: count }, (_, i): AnyBoardEnvelope => {
        const task = tasks[i % tasks.length];
        const rev = task.rev + 1 + Math.floor(i / tasks.length);
        return {
          event: 'kanban.task.updated',
          room: `project:${task.projectId}`,
          data: {
            projectId: task.projectId,
            taskId: task.id,
            changes: { title: `${task.title.replace(/ #\d+$/, '')} #${i}`, priority: priorities[i % 4] },
            updatedBy: 'u_burst',
            rev,
            updatedAt: new Date().toISOString(),
          },
        } as AnyBoardEnvelope;
      });
      const t0 = performance.now();
      board.applyEvents(events);
      const applyMs = performance.now() - t0;
      // Preact renders signal changes after a microtask; a macrotask later the DOM is done.
      await new Promise((r) => setTimeout(r, 0));
      const totalMs = performance.now() - t0;
      const titles = [...document.querySelectorAll('[data-testid="card-title"]')];
      return { applyMs, totalMs, renamed: titles.filter((t) => / #\d+$/.test(t.textContent ?? '')).length };
    },
  };
  (globalThis as { __tandemBoard?: BoardTimings }).__tandemBoard = timings;
  return () => {
    delete (globalThis as { __tandemBoard?: BoardTimings }).__tandemBoard;
  };
}
