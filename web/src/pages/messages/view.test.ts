import { describe, expect, it } from 'vitest';
import type { ChatMessage, ThreadItem } from '../../sdk/reducers/chat';
import { firstName, isAtBottom, keptScrollTop, lastOwnIndex, previewOf, startsRun, tabTitle } from './view';

const message = (n: number, authorId: string, overrides: Partial<ChatMessage> = {}): ChatMessage => ({
  messageId: `m_${n}`,
  conversationId: 'cv_1',
  n,
  authorId,
  text: `message ${n}`,
  clientId: null,
  sentAt: '2026-12-01T10:00:00Z',
  editedAt: null,
  deletedAt: null,
  ...overrides,
});

describe('the messages page view', () => {
  it('counts the unread messages in the tab title', () => {
    expect(tabTitle(0)).toBe('Tandem');
    expect(tabTitle(3)).toBe('(3) Tandem');
  });

  it('knows when the reader is at the bottom, and keeps their place when older messages come in above', () => {
    expect(isAtBottom({ scrollTop: 560, scrollHeight: 1000, clientHeight: 400 })).toBe(true);
    expect(isAtBottom({ scrollTop: 300, scrollHeight: 1000, clientHeight: 400 })).toBe(false);
    expect(keptScrollTop({ scrollTop: 20, scrollHeight: 1000 }, 1800)).toBe(820);
  });

  it('previews the last message as "You: …", with the author in a group, or as deleted', () => {
    const nameOf = (id: string | null) => (id === 'u_grace' ? 'Grace Hopper' : 'Someone');
    expect(previewOf({ kind: 'direct', lastMessage: null }, 'u_me', nameOf)).toBe('No messages yet');
    expect(previewOf({ kind: 'direct', lastMessage: message(1, 'u_me', { text: 'hi\nthere' }) }, 'u_me', nameOf)).toBe('You: hi there');
    expect(previewOf({ kind: 'group', lastMessage: message(1, 'u_grace') }, 'u_me', nameOf)).toBe('Grace: message 1');
    expect(previewOf({ kind: 'direct', lastMessage: message(1, 'u_grace', { text: '', deletedAt: 'x' }) }, 'u_me', nameOf)).toBe('Message deleted');
    expect(firstName('Ada Lovelace')).toBe('Ada');
  });

  it('puts the receipt under one’s last confirmed message, not a deleted or pending one', () => {
    const items: ThreadItem[] = [
      { kind: 'message', message: message(1, 'u_me') },
      { kind: 'message', message: message(2, 'u_me', { deletedAt: 'x' }) },
      { kind: 'message', message: message(3, 'u_grace') },
      { kind: 'pending', send: { clientId: 'cl_1', text: 'x', at: 'x', state: 'sending' } },
    ];
    expect(lastOwnIndex(items, 'u_me')).toBe(0);
    expect(lastOwnIndex(items.slice(2), 'u_me')).toBe(-1);
  });

  it('starts a new run of bubbles on another author or after five minutes', () => {
    expect(startsRun(null, message(1, 'u_me'))).toBe(true);
    expect(startsRun(message(1, 'u_me'), message(2, 'u_me', { sentAt: '2026-12-01T10:04:00Z' }))).toBe(false);
    expect(startsRun(message(1, 'u_me'), message(2, 'u_me', { sentAt: '2026-12-01T10:06:00Z' }))).toBe(true);
    expect(startsRun(message(1, 'u_me'), message(2, 'u_grace'))).toBe(true);
  });
});
