import { describe, expect, it } from 'vitest';
import type { Http } from './http';
import { LatencyReporter } from './latency';

function fakeHttp(fail = false) {
  const posts: unknown[] = [];
  const http = {
    post: async (path: string, body: unknown) => {
      if (fail) throw new Error('down');
      posts.push({ path, body });
    },
  } as unknown as Http;
  return { http, posts };
}

describe('LatencyReporter', () => {
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

  it('bounds its buffer and drops a batch the server did not take', async () => {
    const { http } = fakeHttp(true);
    const reporter = new LatencyReporter(http, 10_000, 3, () => 1_000);
    for (let i = 0; i < 5; i++) reporter.record('e', new Date(0).toISOString());
    expect(reporter.buffered).toBe(3);
    await reporter.flush();
    expect(reporter.buffered).toBe(0);
  });
});
