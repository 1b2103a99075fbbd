import { describe, expect, it } from 'vitest';
import type { Http } from './http';
import { LatencyReporter, type PageHideWatcher } from './latency';

function fakeHttp(fail = false) {
  const posts: unknown[] = [];
  const options: unknown[] = [];
  const http = {
    request: async (method: string, path: string, { body, ...opts }: { body?: unknown }) => {
      if (fail) throw new Error('down');
      expect(method).toBe('POST');
      posts.push({ path, body });
      options.push(opts);
    },
  } as unknown as Http;
  return { http, posts, options };
}

/** A page whose hiding the test controls. */
function fakePage() {
  const listeners = new Set<() => void>();
  const watch: PageHideWatcher = (listener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  };
  return { watch, hide: () => listeners.forEach((l) => l()), watchers: () => listeners.size };
}

describe('LatencyReporter', () => {
  it("counts each phase's calls and server failures toward the page's organization", async () => {
    const { http, posts } = fakeHttp();
    const reporter = new LatencyReporter(http, 10_000, 500, () => 0);
    reporter.outcome('org_a', 'kanban', false); // no page organization yet: not counted
    reporter.orgId = 'org_a';
    reporter.outcome('org_a', 'kanban', false);
    reporter.outcome('org_a', 'kanban', true);
    reporter.outcome('org_a', 'task', false);
    reporter.outcome('org_b', 'task', true); // another organization's call: not this page's
    await reporter.flush();
    expect(posts).toEqual([
      {
        path: '/api/telemetry/latency',
        body: {
          samples: [],
          orgId: 'org_a',
          outcomes: [
            { phase: 'kanban', calls: 2, failed: 1 },
            { phase: 'task', calls: 1, failed: 0 },
          ],
        },
      },
    ]);
    await reporter.flush(); // counted once
    expect(posts).toHaveLength(1);
  });

  it('measures emittedAt → received and sends the samples in one batch', async () => {
    const { http, posts } = fakeHttp();
    const now = Date.parse('2026-01-01T00:00:01.000Z');
    const reporter = new LatencyReporter(http, 10_000, 500, () => now);
    reporter.record('org.member.updated', '2026-01-01T00:00:00.950Z');
    reporter.record('org.member.presence', '2026-01-01T00:00:01.020Z'); // client clock behind: 0
    reporter.record('org.member.updated', 'not a date');
    await reporter.flush();
    expect(posts).toEqual([
      {
        path: '/api/telemetry/latency',
        body: { samples: [{ event: 'org.member.updated', ms: 50 }, { event: 'org.member.presence', ms: 0 }] },
      },
    ]);
    await reporter.flush();
    expect(posts).toHaveLength(1);
  });

  it('sends what is pending when the page is hidden, with a request that outlives the page', async () => {
    const { http, posts, options } = fakeHttp();
    const page = fakePage();
    const reporter = new LatencyReporter(http, 60_000, 500, () => 1_000, page.watch);
    reporter.start();
    reporter.record('org.member.updated', new Date(900).toISOString());
    page.hide();
    await Promise.resolve();
    expect(posts).toEqual([{ path: '/api/telemetry/latency', body: { samples: [{ event: 'org.member.updated', ms: 100 }] } }]);
    expect(options).toEqual([{ retry: false, keepalive: true }]);
    page.hide(); // visibilitychange and pagehide may both fire: nothing left to send
    await Promise.resolve();
    expect(posts).toHaveLength(1);
    reporter.stop();
    expect(page.watchers()).toBe(0);
  });

  it('bounds its buffer and drops a batch the server did not take', async () => {
    const { http } = fakeHttp(true);
    const reporter = new LatencyReporter(http, 10_000, 3, () => 1_000);
    for (let i = 0; i < 5; i++) reporter.record('e', new Date(0).toISOString());
    expect(reporter.buffered).toBe(3);
    await reporter.flush();
    expect(reporter.buffered).toBe(0);
  });

  it("sends the page's organization with its samples, and a new page's samples apart", async () => {
    const { http, posts } = fakeHttp();
    const reporter = new LatencyReporter(http, 10_000, 500, () => 1_000);
    reporter.orgId = 'org_a';
    reporter.record('kanban.task.updated', new Date(900).toISOString());
    reporter.orgId = 'org_b';
    await Promise.resolve();
    reporter.record('kanban.task.moved', new Date(950).toISOString());
    await reporter.flush();
    expect(posts).toEqual([
      { path: '/api/telemetry/latency', body: { samples: [{ event: 'kanban.task.updated', ms: 100 }], orgId: 'org_a' } },
      { path: '/api/telemetry/latency', body: { samples: [{ event: 'kanban.task.moved', ms: 50 }], orgId: 'org_b' } },
    ]);
  });
});
