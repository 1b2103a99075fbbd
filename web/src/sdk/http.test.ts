import { describe, expect, it, vi } from 'vitest';
import { ApiError } from './errors';
import { Http } from './http';
import { memoryStorage, TokenStore } from './tokens';

function json(status: number, body?: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers });
}

function setup(handler: (path: string, init: RequestInit, auth: string | null) => Response | Promise<Response>) {
  const tokens = new TokenStore(memoryStorage());
  tokens.set({ accessToken: 'old', refreshToken: 'r1' });
  const calls: string[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const auth = new Headers(init?.headers).get('Authorization');
    calls.push(`${init?.method} ${String(input)} ${auth ?? ''}`.trim());
    return handler(String(input), init ?? {}, auth);
  }) as unknown as typeof globalThis.fetch;
  const onUnauthenticated = vi.fn();
  const http = new Http({ tokens, fetch, onUnauthenticated });
  return { http, tokens, calls, onUnauthenticated };
}

describe('Http', () => {
  it('refreshes once on 401 and retries with the new token; concurrent 401s share the refresh', async () => {
    const { http, tokens, calls } = setup((path, init, auth) => {
      if (path === '/api/auth/refresh') {
        expect(JSON.parse(String(init.body))).toEqual({ refreshToken: 'r1' });
        return json(200, { accessToken: 'new', refreshToken: 'r2' });
      }
      return auth === 'Bearer new' ? json(200, { ok: path }) : json(401, { error: { code: 'unauthorized', message: 'expired' } });
    });
    const [a, b] = await Promise.all([http.get('/api/me'), http.get('/api/orgs/o/members')]);
    expect(a).toEqual({ ok: '/api/me' });
    expect(b).toEqual({ ok: '/api/orgs/o/members' });
    expect(calls.filter((c) => c.includes('/api/auth/refresh'))).toHaveLength(1);
    expect(tokens.access).toBe('new');
    expect(tokens.refresh).toBe('r2');
  });

  it('signs out when the refresh token is refused', async () => {
    const { http, tokens, onUnauthenticated } = setup((path) =>
      path === '/api/auth/refresh' ? json(401, { error: { code: 'unauthorized', message: 'revoked' } }) : json(401, {}),
    );
    await expect(http.get('/api/me')).rejects.toMatchObject({ status: 401 });
    expect(tokens.access).toBeNull();
    expect(onUnauthenticated).toHaveBeenCalledOnce();
  });

  it('keeps the tokens when the server cannot be reached during a refresh', async () => {
    let down = true;
    const { http, tokens } = setup((path) => {
      if (path === '/api/auth/refresh' && down) throw new TypeError('fetch failed');
      return json(401, {});
    });
    await expect(http.post('/api/orgs', { name: 'x' })).rejects.toBeInstanceOf(ApiError);
    expect(tokens.access).toBe('old');
    down = false;
  });

  it('turns the error body into an ApiError with code, message and Retry-After', async () => {
    const { http } = setup(() => json(409, { error: { code: 'last_owner', message: 'An organization needs an Owner.' } }));
    const err = await http.patch('/api/orgs/o/members/u', { role: 'Member' }).catch((e) => e);
    expect(err).toMatchObject({ status: 409, code: 'last_owner', message: 'An organization needs an Owner.' });
    const { http: limited } = setup(() => json(429, { error: { code: 'rate_limited', message: 'Slow down.' } }, { 'Retry-After': '2' }));
    expect(await limited.post('/api/x').catch((e) => e)).toMatchObject({ status: 429, retryAfterMs: 2000 });
  });

  it('quietly retries a GET that failed transiently, but not a POST without an idempotency key', async () => {
    let n = 0;
    const { http, calls } = setup(() => (++n < 3 ? json(503, {}) : json(200, { n })));
    expect(await http.get('/api/me')).toEqual({ n: 3 });
    n = 0;
    await expect(http.post('/api/orgs', {})).rejects.toMatchObject({ status: 503 });
    expect(calls.filter((c) => c.startsWith('POST'))).toHaveLength(1);
  });

  it('sends the idempotency key and treats 204 as no content', async () => {
    const { http } = setup((_path, init) => {
      expect(new Headers(init.headers).get('Idempotency-Key')).toBe('cl_1');
      return json(204);
    });
    expect(await http.post('/api/x', {}, { idempotencyKey: 'cl_1' })).toBeUndefined();
  });

  it('asks fetch to let the request outlive the page only when told to', async () => {
    const inits: RequestInit[] = [];
    const { http } = setup((_path, init) => {
      inits.push(init);
      return json(204);
    });
    await http.post('/api/telemetry/latency', { samples: [] }, { keepalive: true });
    await http.post('/api/telemetry/latency', { samples: [] });
    expect(inits.map((init) => init.keepalive)).toEqual([true, undefined]);
  });
});
