import { effect, signal, type ReadonlySignal } from '@preact/signals';
import { subscribeChat, type ChatEvent } from '../domains/chat';
import { subscribeTyped } from '../domains/typed';
import type { SdkError } from '../errors';
import { userRoom, type Envelope } from '../events.gen';
import { applyConversationEvents, comparableConversation, conversationsFromList, type ConversationsState } from '../reducers/chat';
import { Rest } from '../rest';
import type { Subscription } from '../subscriptions';
import { getConversation, listConversations } from './api';
import type { ChatClient, ReceiptEvent } from './live';

type ListEvent = Extract<ChatEvent, 'chat.conversation.created' | 'chat.conversation.updated' | 'chat.member.added' | 'chat.member.removed'> | ReceiptEvent;

export interface LiveConversations {
  /** The list (null until its snapshot is in). */
  readonly state: ReadonlySignal<ConversationsState | null>;
  close(): void;
}

/**
 * The person's conversations in one organization, kept live: new conversations, renames,
 * membership and their own receipts come on their own `user:` room, each listed conversation's
 * messages on its `chat:` room. Messages from others are acknowledged as delivered as soon as
 * they are heard of, whichever page is open.
 */
export function watchConversations(client: ChatClient, orgId: string, me: string, onError?: (error: SdkError) => void): LiveConversations {
  const state = signal<ConversationsState | null>(null);
  const apply = (events: ReadonlyArray<Envelope<ChatEvent>>) => {
    const current = state.peek();
    if (current) state.value = applyConversationEvents(current, events);
  };
  let listCursor = 0;
  const list = subscribeTyped<ListEvent>(client, userRoom(me), {
    async load(signal) {
      const snapshot = await listConversations(new Rest(client.http), orgId, signal);
      state.value = conversationsFromList(me, snapshot);
      listCursor = Number(snapshot.cursor) || 0;
      return listCursor;
    },
    // The person's room carries their conversations' membership, and their own receipts.
    apply: (events) =>
      apply(
        events.filter((e) => {
          const data = e.data as { conversation?: { orgId: string }; conversationId?: string };
          return data.conversation ? data.conversation.orgId === orgId : data.conversationId !== undefined && !!state.peek()?.byId[data.conversationId];
        }),
      ),
    onError,
  });

  const rooms = new Map<string, Subscription>();
  const watch = (conversationId: string): Subscription => {
    let fresh = true; // the list snapshot already holds this conversation at its cursor
    return subscribeChat(
      client,
      conversationId,
      {
        async load(signal) {
          if (fresh) {
            fresh = false;
            return listCursor;
          }
          const { conversation, cursor } = await getConversation(new Rest(client.http), conversationId, signal);
          const current = state.peek();
          if (current) state.value = { ...current, byId: { ...current.byId, [conversation.id]: conversation } };
          return Number(cursor) || 0;
        },
        apply,
        verify: {
          async fetch(signal) {
            const { conversation, cursor } = await getConversation(new Rest(client.http), conversationId, signal);
            return {
              cursor: Number(cursor) || 0,
              state: comparableConversation(conversation),
              repair: () => {
                const current = state.peek();
                if (current) state.value = { ...current, byId: { ...current.byId, [conversation.id]: conversation } };
              },
            };
          },
          current: () => comparableConversation(state.peek()?.byId[conversationId]),
        },
        onError: (error) => {
          // A conversation that left the list (the person was removed from it) is not an error.
          if (state.peek()?.byId[conversationId]) onError?.(error);
        },
      },
      orgId,
    );
  };
  const stopWatching = effect(() => {
    const ids = new Set(Object.keys(state.value?.byId ?? {}));
    for (const [id, subscription] of rooms) {
      if (!ids.has(id)) {
        subscription.close();
        rooms.delete(id);
      }
    }
    for (const id of ids) if (!rooms.has(id)) rooms.set(id, watch(id));
  });

  // Delivered receipts: the highest message from someone else that this person's cursor is behind.
  const asked = new Map<string, number>();
  const stopDelivering = effect(() => {
    const current = state.value;
    if (!current || client.connection.state.value !== 'live') return;
    for (const c of Object.values(current.byId)) {
      const last = c.lastMessage;
      if (!last || last.authorId === me || c.deliveredN >= last.n || (asked.get(c.id) ?? 0) >= last.n) continue;
      asked.set(c.id, last.n);
      client.connection.request('chat.message.delivered', { conversationId: c.id, messageIds: [last.messageId] }).then(
        (ack) => {
          if (!ack.ok) asked.delete(c.id);
        },
        () => asked.delete(c.id),
      );
    }
  });

  return {
    state,
    close() {
      stopDelivering();
      stopWatching();
      list.close();
      for (const subscription of rooms.values()) subscription.close();
      rooms.clear();
    },
  };
}
