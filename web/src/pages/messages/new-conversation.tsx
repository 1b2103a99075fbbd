import { useSignal } from '@preact/signals';
import { client } from '../../app/session';
import { errorMessage } from '../../app/toasts';
import { startConversation } from '../../sdk/chat/api';
import type { MemberRow } from '../../sdk/reducers/members';
import { Avatar } from '../../ui/avatar';
import { Dialog } from '../../ui/dialog';
import type { People } from './messages';

/** One person: their direct conversation (the existing one if there is). Several: a group, which needs a title. */
export function NewConversationDialog({ people, candidates, onClose, onStarted }: { people: People; candidates: MemberRow[]; onClose: () => void; onStarted: (conversationId: string) => void }) {
  const chosen = useSignal<readonly string[]>([]);
  const title = useSignal('');
  const filter = useSignal('');
  const busy = useSignal(false);
  const error = useSignal<string | null>(null);
  const group = chosen.value.length > 1;
  const needle = filter.value.trim().toLowerCase();
  const shown = candidates.filter((m) => !needle || m.name.toLowerCase().includes(needle) || m.email.toLowerCase().includes(needle));
  const toggle = (userId: string) => {
    chosen.value = chosen.value.includes(userId) ? chosen.value.filter((id) => id !== userId) : [...chosen.value, userId];
  };
  return (
    <Dialog title="New message" onClose={onClose} testid="new-conversation-dialog">
      <form
        class="stack new-conversation"
        onSubmit={async (e) => {
          e.preventDefault();
          if (chosen.value.length === 0) return;
          busy.value = true;
          error.value = null;
          try {
            const conversation = await startConversation(client.api, people.orgId, [...chosen.value], group ? title.value.trim() : undefined);
            onStarted(conversation.id);
          } catch (err) {
            error.value = errorMessage(err);
          } finally {
            busy.value = false;
          }
        }}
      >
        <label class="field">
          <span>Find people</span>
          <input type="search" value={filter.value} onInput={(e) => (filter.value = e.currentTarget.value)} data-testid="new-conversation-filter" />
        </label>
        <fieldset class="people-picker">
          <legend class="visually-hidden">People</legend>
          {shown.length === 0 && <p class="muted">No one matches.</p>}
          {shown.map((m) => (
            <label key={m.userId} class="person-option">
              <input type="checkbox" checked={chosen.value.includes(m.userId)} onChange={() => toggle(m.userId)} data-testid="new-conversation-person" data-user-id={m.userId} />
              <Avatar name={m.name} url={m.avatarUrl} seed={m.userId} size={24} />
              <span class="person-name">{m.name}</span>
              <span class="presence-dot" data-online={String(m.online)} aria-label={m.online ? 'Online' : 'Offline'} />
            </label>
          ))}
        </fieldset>
        {group && (
          <label class="field">
            <span>Group name</span>
            <input required maxLength={100} value={title.value} onInput={(e) => (title.value = e.currentTarget.value)} data-testid="new-conversation-title" />
          </label>
        )}
        {error.value && (
          <p class="form-error" role="alert">
            {error.value}
          </p>
        )}
        <div class="actions">
          <button type="button" class="button button-ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={busy.value || chosen.value.length === 0} data-testid="new-conversation-start">
            {group ? 'Start the group' : 'Start'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
