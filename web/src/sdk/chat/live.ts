import { computed, effect, signal, type ReadonlySignal } from '@preact/signals';
import { HeldHint } from '../board/hints';
import type { Ack, Connection } from '../connection';
import { subscribeChat } from '../domains/chat';
import { subscribeTyped, type RoomClient } from '../domains/typed';
import { ApiError, isTransient } from '../errors';
import { userRoom, type EventMap } from '../events.gen';
import type { Http } from '../http';
import { newClientId, type OfflineQueue } from '../offline-queue';
import {
  addPending,
  applyThreadEvents,
  comparableThread,
  dropPending,
  emptyThread,
  lastFromOthers,
  prependHistory,
  receiptsFromHistory,
  receiveTyping,
  threadFromHistory,
  typingAt,
  updatePending,
  type ThreadState,
} from '../reducers/chat';
import { Rest } from '../rest';
import { history, messagesPath } from './api';
import type { ChatEvent } from '../domains/chat';

/** What the chat SDK needs of the client: rooms, REST, the socket and the offline queue. */
export interface ChatClient extends RoomClient {
  http: Http;
  connection: Connection;
  queue: OfflineQueue | null;
  enqueueHttp(command: { method: 'POST'; path: string; body?: unknown }, clientId?: string): Promise<unknown>;
}

export type ReceiptEvent = Extract<ChatEvent, 'chat.message.delivered' | 'chat.message.read'>;

export { watchConversations, type LiveConversations } from './conversations';

/** How long after the last keystroke the person still counts as typing. */
const TYPING_IDLE_MS = 4_000;
/** A queued send that left the queue without its message arriving: the history is asked after this long. */
const SETTLE_MS = 3_000;

export interface LiveThread {
  readonly state: ReadonlySignal<ThreadState>;
  /** True once the first history page is in. */
  readonly loaded: ReadonlySignal<boolean>;
  /** Why the thread cannot be shown (not found, no access), or null. */
  readonly failed: ReadonlySignal<string | null>;
  /** The others typing now (expired hints drop by themselves). */
  readonly typists: ReadonlySignal<string[]>;
  readonly loadingOlder: ReadonlySignal<boolean>;
  send(text: string): void;
  retry(clientId: string): void;
  discard(clientId: string): void;
  /** Reads up to the last message from someone else (call while the thread is open and visible). */
  markRead(): void;
  loadOlder(): Promise<void>;
  /** A keystroke in the composer: says "typing" now and every 2 s while it goes on. */
  typed(): void;
  stopTyping(): void;
  close(): void;
}

function ackError(ack: Ack): ApiError {
  return new ApiError(0, ack.error?.code ?? 'invalid', ack.error?.message ?? 'The server refused it.', ack.error?.retryAfterMs);
}

/**
 * One conversation's thread, live: the newest history page and its receipts, then the room's
 * events (and the receipts on the person's own room) through one reducer, older pages on
 * demand. Sends show at once with a client id, go over the socket (or, without one, through the
 * offline queue as the idempotent REST send), and are settled by their ack and by
 * `chat.message.created`, which carries the client id.
 */
export function watchThread(client: ChatClient, conversationId: string, me: string, orgId?: string): LiveThread {
  const state = signal<ThreadState>(emptyThread(conversationId, me));
  const loaded = signal(false);
  const failed = signal<string | null>(null);
  const loadingOlder = signal(false);
  const tick = signal(0);
  const api = new Rest(client.http);
  let closed = false;
  /** The oldest message of the page a verification fetched: only from there on is compared. */
  let verifiedFrom = Infinity;

  const subscription = subscribeChat(
    client,
    conversationId,
    {
      async load(signal) {
        const page = await history(api, conversationId, undefined, signal);
        state.value = threadFromHistory(state.peek(), page);
        loaded.value = true;
        return Number(page.cursor) || 0;
      },
      apply: (events) => {
        state.value = applyThreadEvents(state.peek(), events);
      },
      verify: {
        async fetch(signal) {
          const page = await history(api, conversationId, undefined, signal);
          verifiedFrom = Math.min(...page.messages.map((m) => m.n), Infinity);
          const fetched = threadFromHistory(emptyThread(conversationId, me), page);
          return {
            cursor: Number(page.cursor) || 0,
            state: comparableThread(fetched, verifiedFrom),
            repair: () => {
              // Older pages loaded by scrolling stay.
              const current = state.peek();
              const older = current.messages.filter((m) => m.n < verifiedFrom);
              state.value = prependHistory(threadFromHistory(current, page), { ...page, messages: older, hasMore: current.hasMore });
            },
          };
        },
        current: () => comparableThread(state.peek(), verifiedFrom),
      },
      onError: (error) => {
        failed.value = error.message || 'This conversation cannot be shown.';
      },
    },
    orgId,
  );

  // Receipts come on the person's own room: theirs from their other devices, and the others' as
  // far as they cover this person's messages (docs/chat.md). The page's receipts start them.
  const receipts = subscribeTyped<ReceiptEvent>(client, userRoom(me), {
    async load(signal) {
      const page = await history(api, conversationId, undefined, signal, 1);
      state.value = receiptsFromHistory(state.peek(), page);
      return Number(page.cursor) || 0;
    },
    apply: (events) => {
      const mine = events.filter((e) => e.event === 'chat.message.delivered' || e.event === 'chat.message.read');
      if (mine.length) state.value = applyThreadEvents(state.peek(), mine);
    },
  });

  let typingTimer: ReturnType<typeof setTimeout> | null = null;
  const scheduleTick = () => {
    if (typingTimer) clearTimeout(typingTimer);
    const until = Object.values(state.peek().typing);
    if (until.length === 0) return;
    const next = Math.min(...until.filter((t) => t > Date.now()), Infinity);
    if (next === Infinity) return;
    typingTimer = setTimeout(() => {
      tick.value += 1;
      scheduleTick();
    }, next - Date.now() + 5);
  };
  const stopHints = client.connection.onEvent((event, payload) => {
    if (event !== 'chat.typing') return;
    const data = (payload as { data?: EventMap['chat.typing'] })?.data;
    if (!data || data.conversationId !== conversationId || typeof data.userId !== 'string') return;
    state.value = receiveTyping(state.peek(), { ...data, expiresInMs: typeof data.expiresInMs === 'number' ? data.expiresInMs : 5_000 }, Date.now());
    scheduleTick();
  });
  const typists = computed(() => {
    void tick.value;
    return typingAt(state.value, Date.now());
  });

  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed) run();
    }, ms);
    timers.add(timer);
  };
  const pendingOf = (clientId: string) => state.peek().pending.find((p) => p.clientId === clientId);

  /** Sends through the offline queue: in order, kept across a reload, sent once back online. */
  const enqueue = (clientId: string, text: string) => {
    client.enqueueHttp({ method: 'POST', path: messagesPath(conversationId), body: { clientId, text } }, clientId).catch(() => {
      state.value = updatePending(state.peek(), clientId, { state: 'failed', reason: 'It could not be kept for later.' });
    });
  };

  const dispatch = (clientId: string, text: string) => {
    if (!client.connection.live) {
      enqueue(clientId, text);
      return;
    }
    client.connection.request('chat.message.send', { conversationId, clientId, text }).then(
      (ack) => {
        if (ack.ok) {
          state.value = updatePending(state.peek(), clientId, { state: 'sending', messageId: String(ack.messageId) });
          return;
        }
        const error = ackError(ack);
        if (error.code === 'rate_limited') {
          state.value = updatePending(state.peek(), clientId, { state: 'slow', reason: 'Slow down' });
          later(ack.error?.retryAfterMs ?? 1_000, () => {
            if (pendingOf(clientId)?.state === 'slow') dispatch(clientId, text);
          });
          return;
        }
        state.value = updatePending(state.peek(), clientId, { state: 'failed', reason: error.message });
      },
      (err: unknown) => {
        // The socket dropped or timed out: the same client id over REST, later, makes no second message.
        if (isTransient(err)) enqueue(clientId, text);
        else state.value = updatePending(state.peek(), clientId, { state: 'failed', reason: err instanceof Error ? err.message : 'Not sent.' });
      },
    );
  };

  // A queued send that left the queue but whose message never came (refused, or its event
  // missed while polling): the history decides; still missing, it failed.
  let stopQueueWatch = () => {};
  const queue = client.queue;
  if (queue) {
    const known = new Set<string>();
    stopQueueWatch = effect(() => {
      const queued = new Set(queue.pending.value.map((c) => c.clientId));
      for (const clientId of queued) known.add(clientId);
      for (const clientId of [...known]) {
        if (queued.has(clientId)) continue;
        known.delete(clientId);
        later(SETTLE_MS, () => {
          if (!pendingOf(clientId)) return;
          void subscription.reload().then(() => {
            if (pendingOf(clientId)?.state === 'sending') state.value = updatePending(state.peek(), clientId, { state: 'failed', reason: 'Not sent.' });
          });
        });
      }
    });
    // What an earlier page load queued for this conversation shows as pending until sent.
    void queue.load().then(() => {
      for (const command of queue.pending.peek()) {
        const payload = command.payload as { path?: string; body?: { clientId?: string; text?: string } };
        if (payload.path !== messagesPath(conversationId) || !payload.body?.text) continue;
        state.value = addPending(state.peek(), { clientId: command.clientId, text: payload.body.text, at: new Date(command.enqueuedAt).toISOString() });
      }
    });
  }

  let readAsked = 0;
  const hint = new HeldHint((typing) => client.connection.request('chat.typing', { conversationId, typing }));
  let idle: ReturnType<typeof setTimeout> | null = null;
  const stopTyping = () => {
    if (idle) clearTimeout(idle);
    idle = null;
    hint.release();
  };

  return {
    state,
    loaded,
    failed,
    typists,
    loadingOlder,
    send(text) {
      const trimmed = text.trim();
      if (!trimmed) return;
      stopTyping();
      const clientId = newClientId();
      state.value = addPending(state.peek(), { clientId, text: trimmed, at: new Date().toISOString() });
      dispatch(clientId, trimmed);
    },
    retry(clientId) {
      const pending = pendingOf(clientId);
      if (!pending) return;
      state.value = updatePending(state.peek(), clientId, { state: 'sending', reason: undefined });
      dispatch(clientId, pending.text);
    },
    discard(clientId) {
      state.value = dropPending(state.peek(), clientId);
    },
    markRead() {
      const current = state.peek();
      const last = lastFromOthers(current);
      const mine = current.receipts[me]?.readN ?? 0;
      if (!last || last.n <= mine || last.n <= readAsked) return;
      readAsked = last.n;
      const body = { conversationId, messageId: last.messageId };
      const viaRest = () =>
        api.post('/api/conversations/{conversation_id}/read', { path: { conversation_id: conversationId }, body: { messageId: last.messageId } }).catch(() => {
          readAsked = 0;
        });
      if (!client.connection.live) {
        void viaRest();
        return;
      }
      client.connection.request('chat.message.read', body).then(
        (ack) => {
          if (!ack.ok) readAsked = 0;
        },
        () => {
          readAsked = 0;
        },
      );
    },
    async loadOlder() {
      const first = state.peek().messages[0];
      if (!first || !state.peek().hasMore || loadingOlder.peek()) return;
      loadingOlder.value = true;
      try {
        const page = await history(api, conversationId, first.messageId);
        if (!closed) state.value = prependHistory(state.peek(), page);
      } finally {
        loadingOlder.value = false;
      }
    },
    typed() {
      hint.hold();
      if (idle) clearTimeout(idle);
      idle = setTimeout(stopTyping, TYPING_IDLE_MS);
    },
    stopTyping,
    close() {
      closed = true;
      stopTyping();
      stopHints();
      stopQueueWatch();
      if (typingTimer) clearTimeout(typingTimer);
      for (const timer of timers) clearTimeout(timer);
      subscription.close();
      receipts.close();
    },
  };
}
