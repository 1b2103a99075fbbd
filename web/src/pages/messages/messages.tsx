import { useEffect, useMemo } from 'preact/hooks';
import { useSignal } from '@preact/signals';
import { inbox } from '../../app/inbox';
import { Link, navigate } from '../../app/router';
import { client, currentMembership, me } from '../../app/session';
import { watchMembers } from '../../sdk/domains/org';
import { conversationName, conversationsInOrder, otherMember, type ConversationView } from '../../sdk/reducers/chat';
import type { MemberRow } from '../../sdk/reducers/members';
import { Avatar } from '../../ui/avatar';
import { NewConversationDialog } from './new-conversation';
import { Thread } from './thread';
import { clockOf, previewOf } from './view';
import './messages.css';

/** What the list and the thread share about the people of the organization. */
export interface People {
  me: string;
  orgId: string;
  byId: ReadonlyMap<string, MemberRow>;
  nameOf: (userId: string | null) => string;
}

export function MessagesPage({ conversationId }: { conversationId?: string }) {
  const current = me.value;
  const membership = currentMembership.value;
  if (!current || !membership) return null;
  return <LiveMessagesPage key={membership.orgId} orgId={membership.orgId} userId={current.user.id} conversationId={conversationId} />;
}

function LiveMessagesPage({ orgId, userId, conversationId }: { orgId: string; userId: string; conversationId?: string }) {
  const members = useMemo(() => watchMembers(client, orgId), [orgId]);
  useEffect(() => () => members.subscription.close(), [members]);
  const starting = useSignal(false);
  const rows = members.store.values();
  const byId = new Map(rows.map((m) => [m.userId, m]));
  const list = inbox.value?.state.value ?? null;
  const conversations = list ? conversationsInOrder(list) : null;
  const open = conversationId ? (list?.byId[conversationId] ?? null) : null;
  const people: People = {
    me: userId,
    orgId,
    byId,
    nameOf: (id) => {
      if (!id) return 'Someone';
      const known = byId.get(id)?.name;
      if (known) return known;
      for (const c of conversations ?? []) {
        const member = c.members.find((m) => m.userId === id);
        if (member) return member.name;
      }
      return 'Someone';
    },
  };

  return (
    <main class="messages-page" data-testid="messages-page" data-pane={conversationId ? 'thread' : 'list'}>
      <section class="messages-list" aria-label="Conversations">
        <div class="messages-list-header">
          <h1>Messages</h1>
          <button type="button" class="button button-primary" data-testid="new-conversation" onClick={() => (starting.value = true)}>
            New message
          </button>
        </div>
        {conversations === null ? (
          <p class="loading">Loading conversations…</p>
        ) : conversations.length === 0 ? (
          <p class="muted messages-empty">No conversations yet. Start one with “New message”.</p>
        ) : (
          <ul class="conversation-items" data-testid="conversation-list">
            {conversations.map((c) => (
              <ConversationItem key={c.id} conversation={c} people={people} current={c.id === conversationId} />
            ))}
          </ul>
        )}
      </section>
      <section class="messages-thread-pane" aria-label="Conversation">
        {conversationId ? (
          <Thread key={conversationId} conversationId={conversationId} conversation={open} people={people} />
        ) : (
          <div class="messages-placeholder muted">Choose a conversation, or start a new one.</div>
        )}
      </section>
      {starting.value && (
        <NewConversationDialog
          people={people}
          candidates={rows.filter((m) => m.userId !== userId && m.status === 'active')}
          onClose={() => (starting.value = false)}
          onStarted={(id) => {
            starting.value = false;
            navigate(`/messages/${id}`);
          }}
        />
      )}
    </main>
  );
}

export function ConversationAvatar({ conversation, people, size = 36 }: { conversation: ConversationView; people: People; size?: number }) {
  const other = otherMember(conversation, people.me);
  const name = conversationName(conversation, people.me);
  const online = other ? (people.byId.get(other.userId)?.online ?? false) : null;
  return (
    <span class="conversation-avatar">
      <Avatar name={name} url={other?.avatarUrl ?? null} seed={other?.userId ?? conversation.id} size={size} />
      {online !== null && <span class="presence-dot" data-testid="conversation-presence" data-online={String(online)} title={online ? 'Online' : 'Offline'} />}
    </span>
  );
}

function ConversationItem({ conversation, people, current }: { conversation: ConversationView; people: People; current: boolean }) {
  const name = conversationName(conversation, people.me);
  const unread = conversation.unreadCount;
  return (
    <li data-testid="conversation" data-conversation-id={conversation.id} data-unread={unread}>
      <Link href={`/messages/${conversation.id}`} class={`conversation-item${unread > 0 ? ' has-unread' : ''}`} current={current} testid="conversation-item">
        <ConversationAvatar conversation={conversation} people={people} />
        <span class="conversation-text">
          <span class="conversation-top">
            <span class="conversation-name">{name}</span>
            <span class="conversation-time muted">{clockOf(conversation.lastActivityAt)}</span>
          </span>
          <span class="conversation-bottom">
            <span class="conversation-preview">{previewOf(conversation, people.me, people.nameOf)}</span>
            {unread > 0 && (
              <span class="unread-badge" data-testid="conversation-unread" aria-label={`${unread} unread`}>
                {unread}
              </span>
            )}
          </span>
        </span>
      </Link>
    </li>
  );
}
