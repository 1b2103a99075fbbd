import { computed, effect, signal } from '@preact/signals';
import { watchConversations, type LiveConversations } from '../sdk/chat/conversations';
import { tabTitle } from '../pages/messages/view';
import { totalUnread } from '../sdk/reducers/chat';
import { client, currentOrgId, me } from './session';

/**
 * The signed-in person's conversations in the current organization, live on every page: the
 * header's unread badge, the tab title, and delivered receipts as messages arrive.
 */
export const inbox = signal<LiveConversations | null>(null);

export const unreadTotal = computed(() => {
  const state = inbox.value?.state.value;
  return state ? totalUnread(state) : 0;
});

let started = false;

export function startInbox(): void {
  if (started) return;
  started = true;
  effect(() => {
    const userId = me.value?.user.id;
    const orgId = currentOrgId.value;
    if (!userId || !orgId || !me.value?.memberships.some((m) => m.orgId === orgId)) return;
    const live = watchConversations(client, orgId, userId);
    inbox.value = live;
    return () => {
      live.close();
      inbox.value = null;
    };
  });
  effect(() => {
    document.title = tabTitle(unreadTotal.value);
  });
}
