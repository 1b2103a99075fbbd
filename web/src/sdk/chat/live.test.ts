import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TandemClient } from '../client';
import type { ChatMessage } from '../reducers/chat';
import { clientFor } from '../testing/client';
import { FakeServer, json } from '../testing/fake-server';
import { watchConversations, watchThread, type LiveConversations, type LiveThread } from './live';

let client: TandemClient | null = null;
let thread: LiveThread | null = null;
let list: LiveConversations | null = null;
afterEach(() => {
  thread?.close();
  list?.close();
  client?.stop();
  thread = list = client = null;
});

const C = 'cv_1';
const message = (n: number, authorId: string, overrides: Partial<ChatMessage> = {}): ChatMessage => ({
  messageId: `m_${n}`,
  conversationId: C,
  n,
  authorId,
  text: `message ${n}`,
  clientId: null,
  sentAt: '2026-12-01T10:00:00Z',
  editedAt: null,
  deletedAt: null,
  ...overrides,
});

type SendPayload = { conversationId: string; clientId: string; text: string };

/** A fake server with conversation cv_1 (one message from Grace), whose socket send answers `answer`. */
function setup(answer: (payload: SendPayload, attempt: number) => unknown = () => undefined, options: { blockWebsocket?: boolean } = {}) {
  const server = new FakeServer();
  server.blockWebsocket = options.blockWebsocket ?? false;
  const messages: ChatMessage[] = [message(1, 'u_grace')];
  const sends: SendPayload[] = [];
  const reads: unknown[] = [];
  const typing: unknown[] = [];
  server.routes.push((method, path) => {
    if (method === 'GET' && path === `/api/conversations/${C}/messages`) {
      return json(200, { messages: [...messages], receipts: [{ userId: 'u_me', deliveredN: 1, readN: 0 }, { userId: 'u_grace', deliveredN: 1, readN: 1 }], hasMore: false, cursor: server.seq });
    }
    return undefined;
  });
  server.inbound.set('chat.message.send', (raw) => {
    const payload = raw as SendPayload;
    sends.push(payload);
    const custom = answer(payload, sends.length);
    if (custom) return custom;
    let made = messages.find((m) => m.clientId === payload.clientId);
    if (!made) {
      made = message(messages.length + 1, 'u_me', { clientId: payload.clientId, text: payload.text });
      messages.push(made);
      server.emit(`chat:${C}`, 'chat.message.created', { conversationId: C, message: made, clientId: payload.clientId });
    }
    return { ok: true, messageId: made.messageId, sentAt: made.sentAt };
  });
  server.inbound.set('chat.message.read', (payload) => {
    reads.push(payload);
    return { ok: true };
  });
  server.inbound.set('chat.typing', (payload) => {
    typing.push(payload);
    return { ok: true };
  });
  client = clientFor(server);
  client.start('u_me');
  thread = watchThread(client, C, 'u_me');
  return { server, thread, sends, reads, typing, messages };
}

const until = (check: () => boolean, timeout = 2_000) => vi.waitFor(() => expect(check()).toBe(true), { timeout, interval: 10 });

describe('watchThread', () => {
  it('shows a send at once and keeps exactly one copy through its ack and its event', async () => {
    const { server, thread, sends } = setup();
    await until(() => thread.loaded.value && client!.connection.live && [...server.sockets].some((s) => s.rooms.has(`chat:${C}`)));
    thread.send('  hello  ');
    expect(thread.state.value.pending).toMatchObject([{ text: 'hello', state: 'sending' }]);
    await until(() => thread.state.value.pending.length === 0);
    expect(thread.state.value.messages.map((m) => m.text)).toEqual(['message 1', 'hello']);
    expect(sends).toHaveLength(1);
    expect(sends[0].clientId).toMatch(/^cl_/);
  });

  it('shows a refused send as failed, and Retry sends the same client id again', async () => {
    const { thread, sends } = setup((_, attempt) => (attempt === 1 ? { ok: false, error: { code: 'invalid', message: 'Too long.' } } : undefined));
    await until(() => thread.loaded.value && client!.connection.live);
    thread.send('hello');
    await until(() => thread.state.value.pending[0]?.state === 'failed');
    expect(thread.state.value.pending[0].reason).toBe('Too long.');
    thread.retry(thread.state.value.pending[0].clientId);
    await until(() => thread.state.value.pending.length === 0);
    expect(sends.map((s) => s.clientId)).toEqual([sends[0].clientId, sends[0].clientId]);
    expect(thread.state.value.messages).toHaveLength(2);
  });

  it('says "slow down" on rate_limited and sends again after retryAfterMs', async () => {
    const { thread, sends } = setup((_, attempt) => (attempt === 1 ? { ok: false, error: { code: 'rate_limited', message: 'Slow down.', retryAfterMs: 50 } } : undefined));
    await until(() => thread.loaded.value && client!.connection.live);
    thread.send('hello');
    await until(() => thread.state.value.pending[0]?.state === 'slow');
    await until(() => thread.state.value.pending.length === 0);
    expect(sends).toHaveLength(2);
    expect(new Set(sends.map((s) => s.clientId)).size).toBe(1);
  });

  it('without a socket, queues the send as the idempotent REST send, once', async () => {
    const { server, thread, sends } = setup(undefined, { blockWebsocket: true });
    await until(() => thread.loaded.value && client!.connection.state.value === 'offline-polling', 3_000);
    thread.send('from the train');
    expect(thread.state.value.pending[0].state).toBe('sending');
    const clientId = thread.state.value.pending[0].clientId;
    await until(() => server.messages.length === 1);
    expect(server.messages[0]).toEqual({ key: clientId, text: 'from the train' });
    expect(sends).toHaveLength(0);
  });

  it('reads the last message from someone else once, and says typing while it goes on', async () => {
    const { server, thread, reads, typing } = setup();
    await until(() => thread.loaded.value && client!.connection.live);
    thread.markRead();
    thread.markRead();
    await until(() => reads.length === 1);
    expect(reads[0]).toEqual({ conversationId: C, messageId: 'm_1' });
    thread.typed();
    thread.typed();
    thread.stopTyping();
    await until(() => typing.length === 2);
    expect(typing).toEqual([
      { conversationId: C, typing: true },
      { conversationId: C, typing: false },
    ]);
    server.emit(`chat:${C}`, 'chat.typing', { conversationId: C, userId: 'u_grace', typing: true, expiresInMs: 80 });
    await until(() => thread.typists.value.includes('u_grace'));
    await until(() => thread.typists.value.length === 0);
  });
});

describe('receipts', () => {
  it('come on the person\'s own room: the others\' on this person\'s messages, and their own', async () => {
    const { server, thread } = setup();
    await until(() => thread.loaded.value && client!.connection.live && [...server.sockets].some((s) => s.rooms.has('user:u_me')));
    expect(thread.state.value.receipts.u_grace).toEqual({ userId: 'u_grace', deliveredN: 1, readN: 1 });
    thread.send('hello');
    await until(() => thread.state.value.messages.length === 2);
    server.emit('user:u_me', 'chat.message.delivered', { conversationId: C, messageId: 'm_2', n: 2, recipientId: 'u_grace', deliveredAt: 'x' });
    await until(() => thread.state.value.receipts.u_grace.deliveredN === 2);
    server.emit('user:u_me', 'chat.message.read', { conversationId: C, messageId: 'm_2', n: 2, readerId: 'u_grace', readAt: 'x', unreadCount: 0 });
    await until(() => thread.state.value.receipts.u_grace.readN === 2);
    // Another conversation's receipts and membership on the same room leave this thread alone.
    server.emit('user:u_me', 'chat.message.read', { conversationId: 'cv_2', messageId: 'm_9', n: 9, readerId: 'u_grace', readAt: 'x', unreadCount: 0 });
    const other = { id: 'cv_2', orgId: 'o_1', kind: 'group', title: 'Other', createdBy: 'u_me', createdAt: 'x', members: [], lastMessage: null, lastN: 9, lastActivityAt: 'x' };
    server.emit('user:u_me', 'chat.member.added', { conversationId: 'cv_2', member: { userId: 'u_ada', name: 'Ada', avatarUrl: null }, conversation: other });
    server.emit(`chat:${C}`, 'chat.typing', { conversationId: C, userId: 'u_grace', typing: true, expiresInMs: 5_000 });
    await until(() => thread.typists.value.includes('u_grace'));
    expect(thread.state.value.receipts).toEqual({
      u_me: { userId: 'u_me', deliveredN: 2, readN: 2 },
      u_grace: { userId: 'u_grace', deliveredN: 2, readN: 2 },
    });
  });
});

describe('paging back', () => {
  it('loads the page before the first message and puts it in front', async () => {
    const server = new FakeServer();
    const newest = [message(3, 'u_grace'), message(4, 'u_me')];
    const older = [message(1, 'u_grace'), message(2, 'u_me')];
    server.routes.push((method, path) => {
      if (method !== 'GET' || path !== `/api/conversations/${C}/messages`) return undefined;
      const before = server.requests[server.requests.length - 1].includes('before=m_3');
      return json(200, { messages: before ? older : newest, receipts: [], hasMore: !before, cursor: server.seq });
    });
    client = clientFor(server);
    client.start('u_me');
    thread = watchThread(client, C, 'u_me');
    await until(() => thread!.loaded.value);
    expect(thread.state.value.hasMore).toBe(true);
    await thread.loadOlder();
    expect(thread.state.value.messages.map((m) => m.n)).toEqual([1, 2, 3, 4]);
    expect(thread.state.value.hasMore).toBe(false);
    expect(server.requests.some((r) => r === `GET /api/conversations/${C}/messages?before=m_3&limit=50`)).toBe(true);
  });
});

describe('watchConversations', () => {
  it('lists the conversations, counts a new message, and says it was delivered', async () => {
    const server = new FakeServer();
    const delivered: unknown[] = [];
    const conversation = {
      id: C,
      orgId: 'o_1',
      kind: 'direct',
      title: null,
      createdBy: 'u_me',
      createdAt: 'x',
      members: [],
      lastMessage: message(1, 'u_grace'),
      lastN: 1,
      lastActivityAt: 'x',
      readN: 1,
      deliveredN: 1,
      unreadCount: 0,
    };
    server.routes.push((method, path) => (method === 'GET' && path === '/api/orgs/o_1/conversations' ? json(200, { conversations: [conversation], cursor: server.seq }) : undefined));
    server.inbound.set('chat.message.delivered', (payload) => {
      delivered.push(payload);
      return { ok: true };
    });
    client = clientFor(server);
    client.start('u_me');
    list = watchConversations(client, 'o_1', 'u_me');
    await until(() => [...server.sockets].some((s) => s.rooms.has(`chat:${C}`)) && client!.connection.live);
    server.emit(`chat:${C}`, 'chat.message.created', { conversationId: C, message: message(2, 'u_grace'), clientId: null });
    await until(() => list!.state.value?.byId[C].unreadCount === 1);
    await until(() => delivered.length === 1);
    expect(delivered[0]).toEqual({ conversationId: C, messageIds: ['m_2'] });
  });
});
