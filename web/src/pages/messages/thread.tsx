import { useSignal } from '@preact/signals';
import { useEffect, useLayoutEffect, useMemo, useRef } from 'preact/hooks';
import { Link } from '../../app/router';
import { client } from '../../app/session';
import { errorMessage, toast } from '../../app/toasts';
import { deleteMessage, editMessage } from '../../sdk/chat/api';
import { watchThread, type LiveThread } from '../../sdk/chat/live';
import { Rest } from '../../sdk/rest';
import {
  conversationName,
  otherMember,
  receiptLabel,
  receiptOf,
  threadItems,
  typingLine,
  type ChatMessage,
  type ConversationView,
  type PendingSend,
  type ThreadState,
} from '../../sdk/reducers/chat';
import { Markdown } from '../task/description';
import { GroupDetailsDialog } from './group-details';
import { ConversationAvatar, type People } from './messages';
import { clockOf, firstName, isAtBottom, keptScrollTop, lastOwnIndex, startsRun } from './view';

export function Thread({ conversationId, conversation, people }: { conversationId: string; conversation: ConversationView | null; people: People }) {
  const live = useMemo(() => watchThread(client, conversationId, people.me, people.orgId), [conversationId, people.me, people.orgId]);
  useEffect(() => () => live.close(), [live]);
  const state = live.state.value;
  const details = useSignal(false);

  // Reading: the last message from someone else, while the thread is open and the tab visible.
  useEffect(() => {
    const read = () => {
      if (document.visibilityState === 'visible') live.markRead();
    };
    read();
    document.addEventListener('visibilitychange', read);
    window.addEventListener('focus', read);
    return () => {
      document.removeEventListener('visibilitychange', read);
      window.removeEventListener('focus', read);
    };
  }, [live, state]);

  if (live.failed.value && !live.loaded.value) {
    return (
      <div class="thread thread-unavailable" data-testid="thread-unavailable" role="alert">
        <BackLink />
        <h2>This conversation cannot be shown</h2>
        <p class="muted">It does not exist, or you are not one of its members.</p>
      </div>
    );
  }
  const name = conversation ? conversationName(conversation, people.me) : 'Conversation';
  const other = conversation ? otherMember(conversation, people.me) : null;
  const online = other ? (people.byId.get(other.userId)?.online ?? false) : null;
  const direct = conversation?.kind !== 'group';
  const typists = live.typists.value.map((id) => firstName(people.nameOf(id)));
  return (
    <div class="thread" data-testid="thread" data-conversation-id={conversationId}>
      <header class="thread-header">
        <BackLink />
        {conversation && <ConversationAvatar conversation={conversation} people={people} size={32} />}
        <div class="thread-title">
          <h2 data-testid="thread-title">{name}</h2>
          <span class="muted thread-subtitle">
            {online !== null ? (online ? 'Online' : 'Offline') : conversation ? `${conversation.members.length} members` : ''}
          </span>
        </div>
        {conversation?.kind === 'group' && (
          <button type="button" class="button button-ghost thread-details" onClick={() => (details.value = true)} data-testid="group-details-open">
            Details
          </button>
        )}
      </header>
      {details.value && conversation?.kind === 'group' && <GroupDetailsDialog conversation={conversation} people={people} onClose={() => (details.value = false)} />}
      <Messages live={live} state={state} people={people} direct={direct} />
      <p class="typing-line" data-testid="typing-line" aria-live="polite">
        {typingLine(typists) ?? ''}
      </p>
      <Composer live={live} name={name} />
    </div>
  );
}

function BackLink() {
  return (
    <Link href="/messages" class="thread-back" testid="thread-back">
      ← Conversations
    </Link>
  );
}

function Messages({ live, state, people, direct }: { live: LiveThread; state: ThreadState; people: People; direct: boolean }) {
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const older = useRef<{ scrollTop: number; scrollHeight: number } | null>(null);
  const unseen = useSignal(false);
  const items = threadItems(state);
  const firstN = state.messages[0]?.n ?? 0;
  const lastKey = items.length ? keyOf(items[items.length - 1]) : '';
  const lastIsMine = items.length > 0 && (items[items.length - 1].kind === 'pending' || (items[items.length - 1] as { message?: ChatMessage }).message?.authorId === people.me);

  useLayoutEffect(() => {
    const box = scroller.current;
    if (!box) return;
    if (older.current) {
      box.scrollTop = keptScrollTop(older.current, box.scrollHeight);
      older.current = null;
    }
  }, [firstN]);
  useLayoutEffect(() => {
    const box = scroller.current;
    if (!box || !lastKey) return;
    if (atBottom.current || lastIsMine) {
      box.scrollTop = box.scrollHeight;
      atBottom.current = true;
      unseen.value = false;
    } else unseen.value = true;
  }, [lastKey, lastIsMine, unseen]);

  const onScroll = () => {
    const box = scroller.current;
    if (!box) return;
    atBottom.current = isAtBottom(box);
    if (atBottom.current) unseen.value = false;
    if (box.scrollTop < 80 && state.hasMore && !live.loadingOlder.peek()) {
      older.current = { scrollTop: box.scrollTop, scrollHeight: box.scrollHeight };
      live.loadOlder().catch((err: unknown) => {
        older.current = null;
        toast(`Could not load older messages: ${errorMessage(err)}`);
      });
    }
  };
  const toBottom = () => {
    const box = scroller.current;
    if (box) box.scrollTop = box.scrollHeight;
    atBottom.current = true;
    unseen.value = false;
  };

  const ownAt = lastOwnIndex(items, people.me);
  return (
    <div class="thread-scroll-wrap">
      <div class="thread-messages" ref={scroller} onScroll={onScroll} data-testid="thread-messages" role="log" aria-label="Messages" tabIndex={0}>
        {state.hasMore && (
          <button type="button" class="button button-ghost thread-older" data-testid="thread-older" onClick={() => onScroll()} disabled={live.loadingOlder.value}>
            {live.loadingOlder.value ? 'Loading…' : 'Load older messages'}
          </button>
        )}
        {!live.loaded.value && <p class="loading">Loading messages…</p>}
        {live.loaded.value && items.length === 0 && <p class="muted thread-empty">No messages yet. Say hello.</p>}
        {items.map((item, i) => {
          if (item.kind === 'pending') return <PendingBubble key={keyOf(item)} send={item.send} live={live} />;
          const previous = i > 0 && items[i - 1].kind === 'message' ? (items[i - 1] as { message: ChatMessage }).message : null;
          const receipt = i === ownAt ? receiptLabel(receiptOf(state, item.message.n), direct) : null;
          return <Bubble key={keyOf(item)} message={item.message} people={people} showAuthor={!direct && startsRun(previous, item.message)} receipt={receipt} />;
        })}
      </div>
      {unseen.value && (
        <button type="button" class="new-messages-pill" data-testid="new-messages" onClick={toBottom}>
          New messages ↓
        </button>
      )}
    </div>
  );
}

function keyOf(item: ReturnType<typeof threadItems>[number]): string {
  return item.kind === 'message' ? (item.message.clientId ?? item.message.messageId) : item.send.clientId;
}

function Bubble({ message, people, showAuthor, receipt }: { message: ChatMessage; people: People; showAuthor: boolean; receipt: string | null }) {
  const mine = message.authorId === people.me;
  const editing = useSignal(false);
  const draft = useSignal(message.text);
  const api = new Rest(client.http);
  const deleted = !!message.deletedAt;
  return (
    <div class={`bubble-row${mine ? ' mine' : ''}`} data-testid="message" data-n={message.n} data-mine={String(mine)} data-deleted={String(deleted)}>
      {showAuthor && !mine && <span class="bubble-author">{people.nameOf(message.authorId)}</span>}
      <div class={`bubble${deleted ? ' deleted' : ''}`}>
        {deleted ? (
          <span class="muted" data-testid="message-deleted">
            This message was deleted
          </span>
        ) : editing.value ? (
          <form
            class="bubble-edit"
            onSubmit={(e) => {
              e.preventDefault();
              const text = draft.value.trim();
              if (!text) return;
              editing.value = false;
              if (text !== message.text) editMessage(api, message.messageId, text).catch((err: unknown) => toast(`Could not edit the message: ${errorMessage(err)}`));
            }}
          >
            <textarea aria-label="Edit the message" value={draft.value} onInput={(e) => (draft.value = e.currentTarget.value)} maxLength={4000} rows={2} data-testid="message-edit-input" />
            <div class="actions">
              <button type="button" class="button button-ghost" onClick={() => (editing.value = false)}>
                Cancel
              </button>
              <button type="submit" class="button button-primary" data-testid="message-edit-save">
                Save
              </button>
            </div>
          </form>
        ) : (
          <Markdown text={message.text} testid="message-text" />
        )}
      </div>
      <div class="bubble-meta">
        {mine && !deleted && !editing.value && (
          <span class="bubble-actions">
            <button
              type="button"
              class="link-button"
              data-testid="message-edit"
              onClick={() => {
                draft.value = message.text;
                editing.value = true;
              }}
            >
              Edit
            </button>
            <button
              type="button"
              class="link-button"
              data-testid="message-delete"
              onClick={() => {
                if (!window.confirm('Delete this message for everyone?')) return;
                deleteMessage(api, message.messageId).catch((err: unknown) => toast(`Could not delete the message: ${errorMessage(err)}`));
              }}
            >
              Delete
            </button>
          </span>
        )}
        <time dateTime={message.sentAt}>{clockOf(message.sentAt)}</time>
        {message.editedAt && !deleted && <span data-testid="message-edited">edited</span>}
        {receipt && <span class="receipt" data-testid="message-receipt">{receipt}</span>}
      </div>
    </div>
  );
}

function PendingBubble({ send, live }: { send: PendingSend; live: LiveThread }) {
  return (
    <div class="bubble-row mine pending" data-testid="message-pending" data-state={send.state}>
      <div class="bubble">
        <Markdown text={send.text} testid="message-text" />
      </div>
      <div class="bubble-meta">
        {send.state === 'sending' && <span data-testid="message-sending">Sending…</span>}
        {send.state === 'slow' && <span data-testid="message-slow">Slow down — sending again shortly</span>}
        {send.state === 'failed' && (
          <span class="send-failed" role="alert">
            Failed{send.reason ? ` (${send.reason})` : ''} —{' '}
            <button type="button" class="link-button" data-testid="message-retry" onClick={() => live.retry(send.clientId)}>
              Retry
            </button>{' '}
            <button type="button" class="link-button" onClick={() => live.discard(send.clientId)}>
              Discard
            </button>
          </span>
        )}
      </div>
    </div>
  );
}

function Composer({ live, name }: { live: LiveThread; name: string }) {
  const text = useSignal('');
  const send = () => {
    if (!text.value.trim()) return;
    live.send(text.value);
    text.value = '';
  };
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <label class="visually-hidden" for="composer-input">
        Message {name}
      </label>
      <textarea
        id="composer-input"
        data-testid="composer-input"
        placeholder={`Message ${name}`}
        rows={1}
        maxLength={4000}
        value={text.value}
        onInput={(e) => {
          text.value = e.currentTarget.value;
          if (text.value.trim()) live.typed();
          else live.stopTyping();
        }}
        onBlur={() => live.stopTyping()}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            send();
          }
        }}
      />
      <button type="submit" class="button button-primary" data-testid="composer-send" disabled={!text.value.trim()}>
        Send
      </button>
    </form>
  );
}
