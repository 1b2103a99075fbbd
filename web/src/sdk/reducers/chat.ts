import type { components } from '../api.gen';
import type { Envelope, EventMap } from '../events.gen';
import type { ChatEvent } from '../domains/chat';

type Schemas = components['schemas'];
export type ChatMessage = EventMap['chat.message.created']['message'];
export type ChatHistory = Schemas['ChatHistory'];
export type Receipt = Schemas['ChatReceipt'];
export type ConversationView = Schemas['ConversationView'];
export type ConversationList = Schemas['ConversationList'];

/** How a send of this person's stands: waiting for the server, refused, or told to slow down. */
export type SendState = 'sending' | 'failed' | 'slow';

/** A message this person wrote that the server has not confirmed yet. */
export interface PendingSend {
  clientId: string;
  text: string;
  at: string;
  state: SendState;
  /** From the ack: the confirmed id, so the event (or a reload) settles it. */
  messageId?: string;
  reason?: string;
}

/**
 * One conversation's thread: the confirmed messages by `n` (the history pages loaded so far plus
 * the events since), each member's receipt cursors, this person's unconfirmed sends, and who is
 * typing (until when, in ms since the epoch). Every function returns a new state.
 */
export interface ThreadState {
  conversationId: string;
  me: string;
  messages: readonly ChatMessage[];
  receipts: Readonly<Record<string, Receipt>>;
  pending: readonly PendingSend[];
  typing: Readonly<Record<string, number>>;
  /** Whether older messages remain on the server, before `messages[0]`. */
  hasMore: boolean;
}

export function emptyThread(conversationId: string, me: string): ThreadState {
  return { conversationId, me, messages: [], receipts: {}, pending: [], typing: {}, hasMore: false };
}

function mergeMessages(current: readonly ChatMessage[], incoming: readonly ChatMessage[]): ChatMessage[] {
  const byN = new Map<number, ChatMessage>();
  for (const m of current) byN.set(m.n, m);
  for (const m of incoming) byN.set(m.n, m);
  return [...byN.values()].sort((a, b) => a.n - b.n);
}

/** Drops the pending sends the confirmed messages settle (same client id, or the acked id). */
function settle(state: ThreadState): ThreadState {
  const clientIds = new Set<string>();
  const ids = new Set<string>();
  for (const m of state.messages) {
    if (m.authorId === state.me && m.clientId) clientIds.add(m.clientId);
    ids.add(m.messageId);
  }
  const pending = state.pending.filter((p) => !clientIds.has(p.clientId) && !(p.messageId && ids.has(p.messageId)));
  return pending.length === state.pending.length ? state : { ...state, pending };
}

/** The latest history page (GET …/messages): replaces the messages, keeps the pending sends. */
export function threadFromHistory(state: ThreadState, history: ChatHistory): ThreadState {
  return settle({ ...receiptsFromHistory(state, history), messages: mergeMessages([], history.messages), hasMore: history.hasMore });
}

/**
 * A history's receipts: its members, each cursor the higher of the page's and what this thread
 * already heard. Receipts come on the person's own room, not the conversation's, so one can be
 * heard before a page read earlier is in; a cursor only moves forward, so the higher one is right.
 */
export function receiptsFromHistory(state: ThreadState, history: Pick<ChatHistory, 'receipts'>): ThreadState {
  const receipts: Record<string, Receipt> = {};
  for (const r of history.receipts) {
    const heard = state.receipts[r.userId];
    receipts[r.userId] = heard ? { userId: r.userId, deliveredN: Math.max(r.deliveredN, heard.deliveredN), readN: Math.max(r.readN, heard.readN) } : { ...r };
  }
  return { ...state, receipts };
}

/** An older page (`before` the first message loaded): goes in front. */
export function prependHistory(state: ThreadState, history: ChatHistory): ThreadState {
  return settle({ ...state, messages: mergeMessages(history.messages, state.messages), hasMore: history.hasMore });
}

function moveCursor(receipts: Readonly<Record<string, Receipt>>, userId: string, deliveredN: number, readN: number): Record<string, Receipt> {
  const was = receipts[userId] ?? { userId, deliveredN: 0, readN: 0 };
  const next = { userId, deliveredN: Math.max(was.deliveredN, deliveredN, readN), readN: Math.max(was.readN, readN) };
  if (next.deliveredN === was.deliveredN && next.readN === was.readN && receipts[userId]) return receipts as Record<string, Receipt>;
  return { ...receipts, [userId]: next };
}

/** The thread's events, from this tab or any other, in seq order; a repeated one changes nothing. */
export function applyThreadEvents(state: ThreadState, envelopes: ReadonlyArray<Pick<Envelope<ChatEvent>, 'event' | 'data'>>): ThreadState {
  let next = state;
  for (const envelope of envelopes) next = applyThreadEvent(next, envelope);
  return settle(next);
}

function applyThreadEvent(state: ThreadState, envelope: Pick<Envelope<ChatEvent>, 'event' | 'data'>): ThreadState {
  const data = envelope.data as { conversationId?: string };
  if (data.conversationId !== undefined && data.conversationId !== state.conversationId) return state;
  switch (envelope.event) {
    case 'chat.message.created': {
      const { message } = envelope.data as EventMap['chat.message.created'];
      const messages = mergeMessages(state.messages, [message]);
      // Sending moves the author's own cursors to their message; no receipt event says so.
      const receipts = message.authorId ? moveCursor(state.receipts, message.authorId, message.n, message.n) : state.receipts;
      const typing = message.authorId && message.authorId in state.typing ? without(state.typing, message.authorId) : state.typing;
      return { ...state, messages, receipts, typing };
    }
    case 'chat.message.updated':
    case 'chat.message.deleted': {
      const { message } = envelope.data as EventMap['chat.message.updated'];
      // Only messages loaded already change; an older one shows as it is when its page loads.
      if (!state.messages.some((m) => m.n === message.n)) return state;
      return { ...state, messages: state.messages.map((m) => (m.n === message.n ? message : m)) };
    }
    case 'chat.message.delivered': {
      const { recipientId, n } = envelope.data as EventMap['chat.message.delivered'];
      return { ...state, receipts: moveCursor(state.receipts, recipientId, n, 0) };
    }
    case 'chat.message.read': {
      const { readerId, n } = envelope.data as EventMap['chat.message.read'];
      return { ...state, receipts: moveCursor(state.receipts, readerId, n, n) };
    }
    case 'chat.member.added': {
      const { member, conversation } = envelope.data as EventMap['chat.member.added'];
      if (state.receipts[member.userId]) return state;
      // A newcomer starts with every earlier message read.
      return { ...state, receipts: { ...state.receipts, [member.userId]: { userId: member.userId, deliveredN: conversation.lastN, readN: conversation.lastN } } };
    }
    case 'chat.member.removed': {
      const { userId } = envelope.data as EventMap['chat.member.removed'];
      if (!state.receipts[userId]) return state;
      return { ...state, receipts: without(state.receipts, userId) };
    }
    default:
      return state;
  }
}

function without<T>(record: Readonly<Record<string, T>>, key: string): Record<string, T> {
  const copy = { ...record };
  delete copy[key];
  return copy;
}

/** This person wrote a message: it shows at once, as "sending". */
export function addPending(state: ThreadState, send: Omit<PendingSend, 'state'>): ThreadState {
  if (state.pending.some((p) => p.clientId === send.clientId)) return state;
  return settle({ ...state, pending: [...state.pending, { ...send, state: 'sending' }] });
}

/** The server's ack, a refusal or a retry: the pending send changes state (or settles). */
export function updatePending(state: ThreadState, clientId: string, changes: Partial<Omit<PendingSend, 'clientId'>>): ThreadState {
  if (!state.pending.some((p) => p.clientId === clientId)) return state;
  return settle({ ...state, pending: state.pending.map((p) => (p.clientId === clientId ? { ...p, ...changes } : p)) });
}

export function dropPending(state: ThreadState, clientId: string): ThreadState {
  return { ...state, pending: state.pending.filter((p) => p.clientId !== clientId) };
}

/** `chat.typing` from someone else: shown until `expiresInMs` from `now`, or until they say false. */
export function receiveTyping(state: ThreadState, data: EventMap['chat.typing'], now: number): ThreadState {
  if (data.conversationId !== state.conversationId || data.userId === state.me) return state;
  if (!data.typing) return data.userId in state.typing ? { ...state, typing: without(state.typing, data.userId) } : state;
  return { ...state, typing: { ...state.typing, [data.userId]: now + Math.max(0, data.expiresInMs) } };
}

/** Who is typing at `now`. */
export function typingAt(state: ThreadState, now: number): string[] {
  return Object.entries(state.typing)
    .filter(([, until]) => until > now)
    .map(([userId]) => userId);
}

/** "Ada is typing…", "Ada and Grace are typing…", or null. */
export function typingLine(names: readonly string[]): string | null {
  if (names.length === 0) return null;
  if (names.length === 1) return `${names[0]} is typing…`;
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} are typing…`;
}

/** A row of the thread: a confirmed message, or one of this person's pending sends drawn after them. */
export type ThreadItem = { kind: 'message'; message: ChatMessage } | { kind: 'pending'; send: PendingSend };

export function threadItems(state: ThreadState): ThreadItem[] {
  return [...state.messages.map((message) => ({ kind: 'message' as const, message })), ...state.pending.map((send) => ({ kind: 'pending' as const, send }))];
}

/** The last message of someone else, which opening the thread reads. */
export function lastFromOthers(state: ThreadState): ChatMessage | null {
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const m = state.messages[i];
    if (m.authorId !== state.me) return m;
  }
  return null;
}

/** What this person's message `n` says of its receipts: sent, delivered, or read (by how many of the others). */
export type Receipted = { kind: 'sent' } | { kind: 'delivered' } | { kind: 'read'; by: number; of: number };

export function receiptOf(state: ThreadState, n: number): Receipted {
  const others = Object.values(state.receipts).filter((r) => r.userId !== state.me);
  const read = others.filter((r) => r.readN >= n).length;
  if (others.length > 0 && read > 0) return { kind: 'read', by: read, of: others.length };
  if (others.length > 0 && others.every((r) => r.deliveredN >= n)) return { kind: 'delivered' };
  return { kind: 'sent' };
}

/** "✓ Sent", "✓✓ Delivered", "Read" (direct), "Read by 2" (group). */
export function receiptLabel(receipt: Receipted, direct: boolean): string {
  if (receipt.kind === 'sent') return '✓ Sent';
  if (receipt.kind === 'delivered') return '✓✓ Delivered';
  return direct ? 'Read' : `Read by ${receipt.by}`;
}

// -- the conversation list ----------------------------------------------------------------------

/**
 * The person's conversations in one organization with their own counts, as
 * GET /api/orgs/{orgId}/conversations answers, kept by the chat events. `counted` remembers the
 * deleted messages already taken off an unread count, so a repeated deletion takes none.
 */
export interface ConversationsState {
  me: string;
  byId: Readonly<Record<string, ConversationView>>;
  counted: ReadonlySet<string>;
}

export function conversationsFromList(me: string, list: Pick<ConversationList, 'conversations'>): ConversationsState {
  const byId: Record<string, ConversationView> = {};
  for (const c of list.conversations) byId[c.id] = c;
  return { me, byId, counted: new Set() };
}

/** Latest activity first (ties by id, as the server orders them). */
export function conversationsInOrder(state: ConversationsState): ConversationView[] {
  return Object.values(state.byId).sort((a, b) => (a.lastActivityAt === b.lastActivityAt ? b.id.localeCompare(a.id) : b.lastActivityAt.localeCompare(a.lastActivityAt)));
}

export function totalUnread(state: ConversationsState): number {
  return Object.values(state.byId).reduce((sum, c) => sum + c.unreadCount, 0);
}

export function applyConversationEvents(state: ConversationsState, envelopes: ReadonlyArray<Pick<Envelope<ChatEvent>, 'event' | 'data'>>): ConversationsState {
  let next = state;
  for (const envelope of envelopes) next = applyConversationEvent(next, envelope);
  return next;
}

function put(state: ConversationsState, entry: ConversationView): ConversationsState {
  return { ...state, byId: { ...state.byId, [entry.id]: entry } };
}

function applyConversationEvent(state: ConversationsState, envelope: Pick<Envelope<ChatEvent>, 'event' | 'data'>): ConversationsState {
  const { me } = state;
  switch (envelope.event) {
    case 'chat.conversation.created': {
      const { conversation } = envelope.data as EventMap['chat.conversation.created'];
      if (state.byId[conversation.id]) return state;
      return put(state, { ...conversation, unreadCount: 0, readN: 0, deliveredN: 0 });
    }
    case 'chat.conversation.updated':
    case 'chat.member.added':
    case 'chat.member.removed': {
      const data = envelope.data as EventMap['chat.member.added'] & EventMap['chat.member.removed'];
      const { conversation } = data;
      const entry = state.byId[conversation.id];
      if (envelope.event === 'chat.member.removed' && data.userId === me) {
        if (!entry) return state;
        const byId = { ...state.byId };
        delete byId[conversation.id];
        return { ...state, byId };
      }
      if (envelope.event === 'chat.member.added' && data.member.userId === me && !entry) {
        return put(state, { ...conversation, unreadCount: 0, readN: conversation.lastN, deliveredN: conversation.lastN });
      }
      if (!entry) return state;
      return put(state, { ...entry, ...conversation });
    }
    case 'chat.message.created': {
      const { conversationId, message } = envelope.data as EventMap['chat.message.created'];
      const entry = state.byId[conversationId];
      if (!entry || message.n <= entry.lastN) return state;
      const moved = { ...entry, lastMessage: message, lastN: message.n, lastActivityAt: message.sentAt };
      if (message.authorId === me) return put(state, { ...moved, readN: message.n, deliveredN: message.n, unreadCount: 0 });
      return put(state, { ...moved, unreadCount: entry.unreadCount + 1 });
    }
    case 'chat.message.updated':
    case 'chat.message.deleted': {
      const { conversationId, message } = envelope.data as EventMap['chat.message.updated'];
      const entry = state.byId[conversationId];
      if (!entry) return state;
      let next = entry;
      if (entry.lastMessage?.messageId === message.messageId) next = { ...next, lastMessage: message };
      let counted = state.counted;
      if (envelope.event === 'chat.message.deleted' && message.authorId !== me && message.n > entry.readN && !counted.has(message.messageId)) {
        next = { ...next, unreadCount: Math.max(0, next.unreadCount - 1) };
        counted = new Set(counted).add(message.messageId);
      }
      if (next === entry) return state;
      return { ...put(state, next), counted };
    }
    case 'chat.message.delivered': {
      const { conversationId, recipientId, n } = envelope.data as EventMap['chat.message.delivered'];
      const entry = state.byId[conversationId];
      if (recipientId !== me || !entry || n <= entry.deliveredN) return state;
      return put(state, { ...entry, deliveredN: n });
    }
    case 'chat.message.read': {
      const { conversationId, readerId, n, unreadCount } = envelope.data as EventMap['chat.message.read'];
      const entry = state.byId[conversationId];
      // Another device of this person read it: its count is the server's, given in the event.
      if (readerId !== me || !entry || n < entry.readN) return state;
      return put(state, { ...entry, readN: n, unreadCount, deliveredN: Math.max(entry.deliveredN, n) });
    }
    default:
      return state;
  }
}

/** A conversation's name as this person sees it: its title, or the other people's names. */
export function conversationName(conversation: Pick<ConversationView, 'title' | 'members'>, me: string): string {
  if (conversation.title) return conversation.title;
  const others = conversation.members.filter((m) => m.userId !== me).map((m) => m.name);
  return others.length ? others.join(', ') : 'Just you';
}

/** The other person of a direct conversation (for its avatar and presence dot). */
export function otherMember(conversation: Pick<ConversationView, 'kind' | 'members'>, me: string) {
  if (conversation.kind !== 'direct') return null;
  return conversation.members.find((m) => m.userId !== me) ?? null;
}

/**
 * What a conversation's own room keeps of its list entry, for soak verification: renames and
 * membership come on the person's room, so they are left out.
 */
export function comparableConversation(c: ConversationView | undefined): unknown {
  if (!c) return null;
  return { lastN: c.lastN, lastMessageId: c.lastMessage?.messageId ?? null, unreadCount: c.unreadCount, readN: c.readN };
}

/**
 * A thread as soak verification compares it: the confirmed messages from `fromN` on (the newest
 * history page; older pages loaded by scrolling are left out) and every receipt.
 */
export function comparableThread(state: ThreadState, fromN: number): unknown {
  return {
    messages: Object.fromEntries(state.messages.filter((m) => m.n >= fromN).map((m) => [String(m.n), m])),
    receipts: state.receipts,
  };
}
