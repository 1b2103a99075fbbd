import { describe, expect, it } from 'vitest';
import { changeRole, members, removeMember } from './domains/org';
import { ApiError } from './errors';
import { Http } from './http';
import { Rest, urlOf } from './rest';
import { memoryStorage, TokenStore } from './tokens';

function setup(answer: (method: string, url: string, body: unknown) => Response) {
  const tokens = new TokenStore(memoryStorage());
  tokens.set({ accessToken: 'a1', refreshToken: 'r1' });
  const calls: Array<{ method: string; url: string; body: unknown; auth: string | null }> = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ method: init?.method ?? 'GET', url: String(input), body, auth: new Headers(init?.headers).get('Authorization') });
    return answer(init?.method ?? 'GET', String(input), body);
  }) as typeof globalThis.fetch;
  return { api: new Rest(new Http({ tokens, fetch })), calls };
}

const json = (status: number, body?: unknown) => new Response(body === undefined ? null : JSON.stringify(body), { status });

describe('urlOf', () => {
  it('fills and encodes path parameters and appends the defined query values', () => {
    expect(urlOf('/api/orgs/{org_id}/members/{user_id}', { org_id: 'org 1', user_id: 'u/2' })).toBe('/api/orgs/org%201/members/u%2F2');
    expect(urlOf('/api/events', undefined, { room: 'org:x', after: null, wait: 0 })).toBe('/api/events?room=org%3Ax&wait=0');
    expect(() => urlOf('/api/invites/{token}', {})).toThrow('{token}');
  });
});

describe('Rest', () => {
  it('sends the typed call through Http: method, filled path, JSON body, bearer token', async () => {
    const { api, calls } = setup(() => json(200, { member: { userId: 'u_2', role: 'Admin' } }));
    await changeRole(api, 'org_1', 'u_2', 'Admin');
    expect(calls).toEqual([{ method: 'PATCH', url: '/api/orgs/org_1/members/u_2', body: { role: 'Admin' }, auth: 'Bearer a1' }]);
  });

  it('answers a 204 with undefined and maps an error body to ApiError', async () => {
    const { api, calls } = setup((method) =>
      method === 'DELETE' ? json(204) : json(409, { error: { code: 'conflict', message: 'an organization must keep an Owner' } }),
    );
    await expect(removeMember(api, 'org_1', 'u_2')).resolves.toBeUndefined();
    const refused = await members(api, 'org_1').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 409, code: 'conflict', message: 'an organization must keep an Owner' });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['DELETE /api/orgs/org_1/members/u_2', 'GET /api/orgs/org_1/members']);
  });
});
