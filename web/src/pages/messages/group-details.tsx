import { useSignal } from '@preact/signals';
import { navigate } from '../../app/router';
import { client, currentMembership } from '../../app/session';
import { errorMessage } from '../../app/toasts';
import { addMember, removeMember, renameConversation } from '../../sdk/chat/api';
import type { ConversationView } from '../../sdk/reducers/chat';
import { Avatar } from '../../ui/avatar';
import { Dialog } from '../../ui/dialog';
import type { People } from './messages';

/**
 * A group's name and people: any member renames it and adds people of the organization; anyone
 * leaves; the group's creator, Owners and Admins remove others. The conversation list is live,
 * so what changes here shows there (and in everyone else's) by its events.
 */
export function GroupDetailsDialog({ conversation, people, onClose }: { conversation: ConversationView; people: People; onClose: () => void }) {
  const title = useSignal(conversation.title ?? '');
  const adding = useSignal('');
  const busy = useSignal(false);
  const error = useSignal<string | null>(null);
  const role = currentMembership.value?.role;
  const moderates = conversation.createdBy === people.me || role === 'Owner' || role === 'Admin';
  const inGroup = new Set(conversation.members.map((m) => m.userId));
  const candidates = [...people.byId.values()].filter((m) => m.status === 'active' && !inGroup.has(m.userId)).sort((a, b) => a.name.localeCompare(b.name));

  const run = async (work: () => Promise<void>) => {
    busy.value = true;
    error.value = null;
    try {
      await work();
    } catch (err) {
      error.value = errorMessage(err);
    } finally {
      busy.value = false;
    }
  };

  return (
    <Dialog title="Group details" onClose={onClose} testid="group-details">
      <div class="stack group-details">
        <form
          class="group-rename"
          onSubmit={(e) => {
            e.preventDefault();
            const next = title.value.trim();
            if (!next || next === conversation.title) return;
            void run(() => renameConversation(client.api, conversation.id, next));
          }}
        >
          <label class="field">
            <span>Group name</span>
            <input required maxLength={100} value={title.value} onInput={(e) => (title.value = e.currentTarget.value)} data-testid="group-title" />
          </label>
          <button type="submit" class="button" disabled={busy.value || !title.value.trim() || title.value.trim() === conversation.title} data-testid="group-rename">
            Rename
          </button>
        </form>
        <h3 class="group-members-heading">{conversation.members.length} members</h3>
        <ul class="group-members" data-testid="group-members">
          {conversation.members.map((m) => {
            const mine = m.userId === people.me;
            return (
              <li key={m.userId} class="group-member" data-testid="group-member" data-user-id={m.userId}>
                <Avatar name={m.name} url={m.avatarUrl} seed={m.userId} size={24} />
                <span class="person-name">
                  {m.name}
                  {mine && <span class="muted"> (you)</span>}
                  {conversation.createdBy === m.userId && <span class="muted"> · started it</span>}
                </span>
                {!mine && moderates && (
                  <button type="button" class="button button-ghost" disabled={busy.value} onClick={() => void run(() => removeMember(client.api, conversation.id, m.userId))} data-testid="group-remove">
                    Remove
                  </button>
                )}
              </li>
            );
          })}
        </ul>
        {candidates.length > 0 && (
          <form
            class="group-add"
            onSubmit={(e) => {
              e.preventDefault();
              const userId = adding.value;
              if (!userId) return;
              void run(async () => {
                await addMember(client.api, conversation.id, userId);
                adding.value = '';
              });
            }}
          >
            <label class="field">
              <span>Add someone</span>
              <select value={adding.value} onChange={(e) => (adding.value = e.currentTarget.value)} data-testid="group-add-person">
                <option value="">Choose a person…</option>
                {candidates.map((m) => (
                  <option key={m.userId} value={m.userId}>
                    {m.name}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit" class="button" disabled={busy.value || !adding.value} data-testid="group-add">
              Add
            </button>
          </form>
        )}
        {error.value && (
          <p class="form-error" role="alert">
            {error.value}
          </p>
        )}
        <div class="actions">
          <button
            type="button"
            class="button button-danger"
            disabled={busy.value}
            data-testid="group-leave"
            onClick={() => {
              if (!window.confirm(`Leave “${conversation.title ?? 'this group'}”? You will no longer see its messages.`)) return;
              void run(async () => {
                await removeMember(client.api, conversation.id, people.me);
                onClose();
                navigate('/messages');
              });
            }}
          >
            Leave the group
          </button>
          <button type="button" class="button button-ghost" onClick={onClose}>
            Done
          </button>
        </div>
      </div>
    </Dialog>
  );
}
