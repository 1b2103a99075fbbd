import type { ChatMessage, ConversationView, ThreadItem } from '../../sdk/reducers/chat';

/** How near the bottom (px) still counts as "at the bottom": new messages then scroll into view. */
export const BOTTOM_SLACK_PX = 48;

export function isAtBottom(box: { scrollTop: number; scrollHeight: number; clientHeight: number }, slack = BOTTOM_SLACK_PX): boolean {
  return box.scrollHeight - box.scrollTop - box.clientHeight <= slack;
}

/** The scrollTop that keeps the same message under the eye after older ones were put above it. */
export function keptScrollTop(before: { scrollTop: number; scrollHeight: number }, scrollHeightAfter: number): number {
  return before.scrollTop + (scrollHeightAfter - before.scrollHeight);
}

/** The list's one line about the last message: "You: …", "Grace: …" in a group, or that it was deleted. */
export function previewOf(conversation: Pick<ConversationView, 'kind' | 'lastMessage'>, me: string, nameOf: (userId: string | null) => string): string {
  const last = conversation.lastMessage;
  if (!last) return 'No messages yet';
  const text = last.deletedAt ? 'Message deleted' : last.text.replace(/\s+/g, ' ');
  if (last.authorId === me) return `You: ${text}`;
  if (conversation.kind === 'group') return `${firstName(nameOf(last.authorId))}: ${text}`;
  return text;
}

export function firstName(name: string): string {
  return name.split(/\s+/)[0] || name;
}

/** The index of this person's last confirmed message: its receipt line goes under it. */
export function lastOwnIndex(items: readonly ThreadItem[], me: string): number {
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i];
    if (item.kind === 'message' && item.message.authorId === me && !item.message.deletedAt) return i;
  }
  return -1;
}

/** Whether a message starts a new run (another author, or more than five minutes after the previous). */
export function startsRun(previous: ChatMessage | null, message: ChatMessage): boolean {
  if (!previous || previous.authorId !== message.authorId) return true;
  return Date.parse(message.sentAt) - Date.parse(previous.sentAt) > 5 * 60_000;
}

/** "14:05" today, "3 Dec" before. */
export function clockOf(iso: string, now = new Date()): string {
  const at = new Date(iso);
  const sameDay = at.toDateString() === now.toDateString();
  return sameDay ? at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : at.toLocaleDateString([], { day: 'numeric', month: 'short' });
}

/** "(3) Tandem" while there are unread messages anywhere. */
export function tabTitle(unread: number, base = 'Tandem'): string {
  return unread > 0 ? `(${unread}) ${base}` : base;
}
