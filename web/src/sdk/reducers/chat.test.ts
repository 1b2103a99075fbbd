import { describe, expect, it } from 'vitest';
import { diffStates } from '../verify';
import {
  addPending,
  applyConversationEvents,
  applyThreadEvents,
  comparableThread,
  conversationName,
  conversationsFromList,
  conversationsInOrder,
  emptyThread,
  prependHistory,
  receiptLabel,
  receiptOf,
  receiveTyping,
  threadFromHistory,
  threadItems,
  totalUnread,
  typingAt,
  typingLine,
  updatePending,
  type ChatMessage,
  type ConversationView,
} from './chat';

const C = 'cv_1';
const ME = 'u_ada';
const GRACE = 'u_grace';

function message(n: number, authorId: string, overrides: Partial<ChatMessage> = {}): ChatMessage {
  return { messageId: `m_${n}`, conversationId: C, n, authorId, text: `message ${n}`, clientId: null, sentAt: `2026-12-01T10:00:0${n}Z`, editedAt: null, deletedAt: null, ...overrides };
}

function conversation(id: string, overrides: Partial<ConversationView> = {}): ConversationView {
  return {
    id,
    orgId: 'o_1',
    kind: 'direct',
    title: null,
    createdBy: ME,
    createdAt: '2026-12-01T09:00:00Z',
    members: [
      { userId: ME, name: 'Ada Lovelace', avatarUrl: null },
      { userId: GRACE, name: 'Grace Hopper', avatarUrl: null },
    ],
    lastMessage: null,
    lastN: 0,
    lastActivityAt: '2026-12-01T09:00:00Z',
    readN: 0,
    deliveredN: 0,
    unreadCount: 0,
    ...overrides,
  };
}

const created = (m: ChatMessage, clientId: string | null = m.clientId) => ({ event: 'chat.message.created' as const, data: { conversationId: C, message: m, clientId } });

function thread() {
  return threadFromHistory(emptyThread(C, ME), {
    messages: [message(1, GRACE), message(2, ME)],
    receipts: [
      { userId: ME, deliveredN: 2, readN: 2 },
      { userId: GRACE, deliveredN: 1, readN: 1 },
    ],
    hasMore: true,
    cursor: 10,
  });
}

describe('thread reducer', () => {
  it('keeps messages by n, whatever order pages and events come in, and a repeat adds nothing', () => {
    let state = thread();
    state = applyThreadEvents(state, [created(message(4, GRACE)), created(message(3, ME)), created(message(4, GRACE))]);
    expect(state.messages.map((m) => m.n)).toEqual([1, 2, 3, 4]);
    state = prependHistory(state, { messages: [message(0, GRACE, { messageId: 'm_0' })], receipts: [], hasMore: false, cursor: 11 });
    expect(state.messages.map((m) => m.n)).toEqual([0, 1, 2, 3, 4]);
    expect(state.hasMore).toBe(false);
  });

  it('settles a pending send by its ack or by the created event that carries its client id', () => {
    let state = addPending(thread(), { clientId: 'cl_1', text: 'hi', at: '2026-12-01T10:00:09Z' });
    state = addPending(state, { clientId: 'cl_2', text: 'there', at: '2026-12-01T10:00:09Z' });
    expect(threadItems(state).filter((i) => i.kind === 'pending')).toHaveLength(2);
    state = applyThreadEvents(state, [created(message(3, ME, { clientId: 'cl_1', text: 'hi' }))]);
    expect(state.pending.map((p) => p.clientId)).toEqual(['cl_2']);
    // The ack first: it stays drawn (as sent) until its message is in the thread.
    state = updatePending(state, 'cl_2', { messageId: 'm_4' });
    expect(state.pending).toHaveLength(1);
    state = applyThreadEvents(state, [created(message(4, ME))]);
    expect(state.pending).toEqual([]);
  });

  it('marks a refused send failed, and a retry sends it again as the same client id', () => {
    let state = addPending(thread(), { clientId: 'cl_1', text: 'hi', at: '2026-12-01T10:00:09Z' });
    state = updatePending(state, 'cl_1', { state: 'failed', reason: 'too long' });
    expect(state.pending[0]).toMatchObject({ state: 'failed', reason: 'too long' });
    state = addPending(state, { clientId: 'cl_1', text: 'hi', at: '2026-12-01T10:00:10Z' });
    expect(state.pending).toHaveLength(1);
  });

  it('moves receipt cursors forward only, and sending moves the sender’s own', () => {
    let state = thread();
    state = applyThreadEvents(state, [created(message(3, ME)), created(message(4, ME))]);
    expect(receiptOf(state, 4)).toEqual({ kind: 'sent' });
    state = applyThreadEvents(state, [{ event: 'chat.message.delivered', data: { conversationId: C, messageId: 'm_4', n: 4, recipientId: GRACE, deliveredAt: 'x' } }]);
    expect(receiptLabel(receiptOf(state, 4), true)).toBe('✓✓ Delivered');
    const read = { event: 'chat.message.read' as const, data: { conversationId: C, messageId: 'm_4', n: 4, readerId: GRACE, readAt: 'x', unreadCount: 0 } };
    state = applyThreadEvents(state, [read, { event: 'chat.message.delivered', data: { conversationId: C, messageId: 'm_3', n: 3, recipientId: GRACE, deliveredAt: 'x' } }]);
    expect(state.receipts[GRACE]).toEqual({ userId: GRACE, deliveredN: 4, readN: 4 });
    expect(receiptLabel(receiptOf(state, 4), true)).toBe('Read');
    expect(receiptLabel({ kind: 'read', by: 2, of: 3 }, false)).toBe('Read by 2');
    state = applyThreadEvents(state, [created(message(5, GRACE))]);
    expect(state.receipts[GRACE]).toEqual({ userId: GRACE, deliveredN: 5, readN: 5 });
  });

  it('takes a page’s receipts without moving back a cursor heard of since the page was read', () => {
    let state = thread();
    state = applyThreadEvents(state, [{ event: 'chat.message.read', data: { conversationId: C, messageId: 'm_2', n: 2, readerId: GRACE, readAt: 'x', unreadCount: 0 } }]);
    state = threadFromHistory(state, {
      messages: [],
      receipts: [
        { userId: ME, deliveredN: 3, readN: 3 },
        { userId: GRACE, deliveredN: 1, readN: 0 },
      ],
      hasMore: false,
      cursor: 1,
    });
    expect(state.receipts).toEqual({ [ME]: { userId: ME, deliveredN: 3, readN: 3 }, [GRACE]: { userId: GRACE, deliveredN: 2, readN: 2 } });
    state = threadFromHistory(state, { messages: [], receipts: [{ userId: ME, deliveredN: 3, readN: 3 }], hasMore: false, cursor: 2 });
    expect(Object.keys(state.receipts)).toEqual([ME]); // a member no longer on the page has left
  });

  it('shows edits and deletions of loaded messages; members come and go from the receipts', () => {
    let state = thread();
    state = applyThreadEvents(state, [
      { event: 'chat.message.updated', data: { conversationId: C, message: message(2, ME, { text: 'fixed', editedAt: 'x' }) } },
      { event: 'chat.message.deleted', data: { conversationId: C, messageId: 'm_1', n: 1, deletedBy: GRACE, message: message(1, GRACE, { text: '', deletedAt: 'x' }) } },
    ]);
    expect(state.messages.map((m) => [m.text, m.editedAt, m.deletedAt])).toEqual([
      ['', null, 'x'],
      ['fixed', 'x', null],
    ]);
    const conv = { ...conversation(C), lastN: 2 };
    state = applyThreadEvents(state, [{ event: 'chat.member.added', data: { conversationId: C, member: { userId: 'u_linus', name: 'Linus', avatarUrl: null }, addedBy: ME, conversation: conv } }]);
    expect(state.receipts.u_linus).toEqual({ userId: 'u_linus', deliveredN: 2, readN: 2 });
    state = applyThreadEvents(state, [{ event: 'chat.member.removed', data: { conversationId: C, userId: 'u_linus', removedBy: ME, conversation: conv } }]);
    expect(state.receipts.u_linus).toBeUndefined();
  });

  it('shows typing until it expires, it is turned off, or the typist’s message arrives; never one’s own', () => {
    let state = receiveTyping(thread(), { conversationId: C, userId: GRACE, typing: true, expiresInMs: 5_000 }, 1_000);
    state = receiveTyping(state, { conversationId: C, userId: ME, typing: true, expiresInMs: 5_000 }, 1_000);
    expect(typingAt(state, 2_000)).toEqual([GRACE]);
    expect(typingAt(state, 6_001)).toEqual([]);
    expect(typingLine(['Grace Hopper'])).toBe('Grace Hopper is typing…');
    expect(typingLine(['Ada', 'Grace', 'Linus'])).toBe('Ada, Grace and Linus are typing…');
    const off = receiveTyping(state, { conversationId: C, userId: GRACE, typing: false, expiresInMs: 0 }, 2_000);
    expect(typingAt(off, 2_000)).toEqual([]);
    const answered = applyThreadEvents(state, [created(message(3, GRACE))]);
    expect(typingAt(answered, 2_000)).toEqual([]);
  });
});

describe('conversation list reducer', () => {
  const list = () =>
    conversationsFromList(ME, {
      conversations: [conversation('cv_1', { lastN: 2, readN: 1, unreadCount: 1, lastActivityAt: '2026-12-01T10:00:02Z' }), conversation('cv_2', { kind: 'group', title: 'Launch crew' })],
    });

  it('counts others’ new messages once each, never one’s own, and orders by latest activity', () => {
    const m3 = { event: 'chat.message.created' as const, data: { conversationId: 'cv_2', message: { ...message(1, GRACE), conversationId: 'cv_2', sentAt: '2026-12-01T11:00:00Z' }, clientId: null } };
    let state = applyConversationEvents(list(), [m3, m3]);
    expect(state.byId.cv_2.unreadCount).toBe(1);
    expect(conversationsInOrder(state).map((c) => c.id)).toEqual(['cv_2', 'cv_1']);
    expect(totalUnread(state)).toBe(2);
    const mine = { event: 'chat.message.created' as const, data: { conversationId: 'cv_1', message: message(3, ME, { sentAt: '2026-12-01T12:00:00Z' }), clientId: 'cl_1' } };
    state = applyConversationEvents(state, [mine]);
    expect(state.byId.cv_1).toMatchObject({ unreadCount: 0, readN: 3, deliveredN: 3, lastN: 3 });
    expect(state.byId.cv_1.lastMessage?.messageId).toBe('m_3');
    expect(conversationsInOrder(state)[0].id).toBe('cv_1');
  });

  it('takes the unread count of a read on another device from the event', () => {
    const read = { event: 'chat.message.read' as const, data: { conversationId: 'cv_1', messageId: 'm_2', n: 2, readerId: ME, readAt: 'x', unreadCount: 0 } };
    const state = applyConversationEvents(list(), [read]);
    expect(state.byId.cv_1).toMatchObject({ unreadCount: 0, readN: 2, deliveredN: 2 });
    // Someone else's read changes nothing of this person's counts.
    const theirs = applyConversationEvents(list(), [{ ...read, data: { ...read.data, readerId: GRACE } }]);
    expect(theirs.byId.cv_1.unreadCount).toBe(1);
  });

  it('takes a deleted unread message off the count once', () => {
    const deleted = { event: 'chat.message.deleted' as const, data: { conversationId: 'cv_1', messageId: 'm_2', n: 2, deletedBy: GRACE, message: message(2, GRACE, { text: '', deletedAt: 'x' }) } };
    const state = applyConversationEvents(list(), [deleted, deleted]);
    expect(state.byId.cv_1.unreadCount).toBe(0);
  });

  it('hears of new conversations, renames, joining and being removed', () => {
    const group = { ...conversation('cv_3', { kind: 'group', title: 'Ops', lastN: 4 }) };
    let state = applyConversationEvents(list(), [{ event: 'chat.conversation.created', data: { conversation: group } }]);
    expect(state.byId.cv_3).toMatchObject({ unreadCount: 0, readN: 0 });
    state = applyConversationEvents(state, [{ event: 'chat.conversation.updated', data: { conversation: { ...group, title: 'Ops team' }, updatedBy: GRACE } }]);
    expect(conversationName(state.byId.cv_3, ME)).toBe('Ops team');
    state = applyConversationEvents(state, [{ event: 'chat.member.removed', data: { conversationId: 'cv_3', userId: ME, removedBy: GRACE, conversation: group } }]);
    expect(state.byId.cv_3).toBeUndefined();
    state = applyConversationEvents(state, [{ event: 'chat.member.added', data: { conversationId: 'cv_3', member: { userId: ME, name: 'Ada', avatarUrl: null }, addedBy: GRACE, conversation: group } }]);
    expect(state.byId.cv_3).toMatchObject({ readN: 4, deliveredN: 4, unreadCount: 0 });
    expect(conversationName(state.byId.cv_1, ME)).toBe('Grace Hopper');
  });
});

describe('thread verification', () => {
  it('compares the newest page only, and names a message the live thread missed', () => {
    const older = prependHistory(thread(), { messages: [message(0, GRACE)], receipts: [], hasMore: false, cursor: 10 });
    const fetched = threadFromHistory(emptyThread(C, ME), {
      messages: [message(1, GRACE), message(2, ME), message(3, GRACE)],
      receipts: [
        { userId: ME, deliveredN: 2, readN: 2 },
        { userId: GRACE, deliveredN: 3, readN: 3 }, // writing moves the author's own cursors
      ],
      hasMore: true,
      cursor: 12,
    });
    expect(diffStates(comparableThread(older, 1), comparableThread(fetched, 1))).toEqual(['messages.3', 'receipts.u_grace.deliveredN', 'receipts.u_grace.readN']);
    const caughtUp = applyThreadEvents(older, [created(message(3, GRACE))]);
    expect(diffStates(comparableThread(caughtUp, 1), comparableThread(fetched, 1))).toEqual([]);
  });
});
