import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TandemClient } from '../client';
import { FakeServer, json, member as orgMember } from '../testing/fake-server';
import { clientFor } from '../testing/client';
import { member, pageSnapshot, projectOut } from './fixtures';
import { watchProjectPage, type WatchedProject } from './live';

const ORG = 'org_1';
const ROOM = 'project:p_1';

let client: TandemClient | null = null;
let watched: WatchedProject | null = null;
afterEach(() => {
  watched?.close();
  client?.stop();
  client = null;
  watched = null;
});

function setup({ guest = false, missing = false } = {}) {
  const server = new FakeServer();
  server.addOrg(ORG, [orgMember('u_me', { role: guest ? 'Guest' : 'Member' })]);
  server.routes.push((method, path) => {
    if (method !== 'GET' || path !== '/api/projects/p_1') return undefined;
    if (missing) return json(404, { error: { code: 'not_found', message: 'project not found' } });
    return json(200, pageSnapshot({ cursor: server.seq, members: [member('u_lead', 'Lead', 'Lena'), member('u_me', 'Viewer', 'Me')] }));
  });
  client = clientFor(server);
  client.start('u_me');
  watched = watchProjectPage(client, 'p_1', ORG, { userId: 'u_me', guest });
  return { server, watched };
}

const statusChange = (status: 'on_hold' | 'archived') => ({ organizationId: ORG, projectId: 'p_1', changes: { status }, project: projectOut({ status }), updatedBy: 'u_lead' });

describe('the project page, live', () => {
  it('loads the snapshot, then applies the room events after its cursor', async () => {
    const { server, watched } = setup();
    await vi.waitFor(() => expect(server.subscribes.some((s) => s.room === ROOM)).toBe(true));
    await vi.waitFor(() => expect(watched.data.value?.project.status).toBe('active'));
    server.emit(ROOM, 'project.updated', statusChange('on_hold'));
    server.emit(ROOM, 'project.member.added', { projectId: 'p_1', member: member('u_new', 'Contributor', 'Nia'), addedBy: 'u_lead', project: projectOut() });
    await vi.waitFor(() => expect(watched.data.value?.project.status).toBe('on_hold'));
    await vi.waitFor(() => expect(watched.data.value?.members.map((m) => m.userId)).toEqual(['u_lead', 'u_new', 'u_me']));
  });

  it('says access is lost when the project room evicts the person', async () => {
    const { server, watched } = setup();
    await vi.waitFor(() => expect(watched.data.value).not.toBeNull());
    await vi.waitFor(() => expect(server.sockets.size > 0 && [...server.sockets].some((s) => s.rooms.has(ROOM))).toBe(true));
    server.evict(ROOM);
    await vi.waitFor(() => expect(watched.data.value?.lost).toBe(true));
  });

  it("says access is lost when a Guest's removal comes on their own room", async () => {
    const { server, watched } = setup({ guest: true });
    await vi.waitFor(() => expect(server.subscribes.some((s) => s.room === 'user:u_me')).toBe(true));
    server.emit('user:u_me', 'project.member.removed', { projectId: 'p_9', userId: 'u_me', removedBy: 'u_lead' });
    server.emit('user:u_me', 'project.member.removed', { projectId: 'p_1', userId: 'u_me', removedBy: 'u_lead' });
    await vi.waitFor(() => expect(watched.data.value?.lost).toBe(true));
  });

  it('tells why when the project cannot be loaded at all', async () => {
    const { watched } = setup({ missing: true });
    await vi.waitFor(() => expect(watched.failed.value).toBe('project not found'));
    expect(watched.data.value).toBeNull();
  });
});
