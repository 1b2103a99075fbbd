import type { ChatHistory, ConversationList, ConversationView } from '../reducers/chat';
import { urlOf, type Rest } from '../rest';

/** GET /api/orgs/{org_id}/conversations: the person's conversations there, latest activity first, with their counts. */
export function listConversations(api: Rest, orgId: string, signal?: AbortSignal): Promise<ConversationList> {
  return api.get('/api/orgs/{org_id}/conversations', { path: { org_id: orgId }, signal });
}

/** GET /api/conversations/{id}: one conversation with the person's counts. */
export async function getConversation(api: Rest, conversationId: string, signal?: AbortSignal): Promise<{ conversation: ConversationView; cursor: number }> {
  return api.get('/api/conversations/{conversation_id}', { path: { conversation_id: conversationId }, signal });
}

/** GET …/messages: the newest page, or the page before `before` (a message id); oldest first. */
export function history(api: Rest, conversationId: string, before?: string, signal?: AbortSignal, limit = 50): Promise<ChatHistory> {
  // The generated types drop this route's optional query, so the URL is built here.
  return api.http.get(urlOf('/api/conversations/{conversation_id}/messages', { conversation_id: conversationId }, { before, limit }), { signal });
}

/** POST /api/orgs/{org_id}/conversations: one other person and no title is their direct conversation (the same one again if it exists). */
export async function startConversation(api: Rest, orgId: string, memberIds: string[], title?: string): Promise<ConversationView> {
  const res = await api.post('/api/orgs/{org_id}/conversations', { path: { org_id: orgId }, body: title ? { memberIds, title } : { memberIds } });
  return res.conversation;
}

/** PATCH /api/messages/{id}: its author changes the text. */
export async function editMessage(api: Rest, messageId: string, text: string): Promise<void> {
  await api.patch('/api/messages/{message_id}', { path: { message_id: messageId }, body: { text } });
}

/** DELETE /api/messages/{id}: the message stays in the history, emptied. */
export function deleteMessage(api: Rest, messageId: string): Promise<void> {
  return api.delete('/api/messages/{message_id}', { path: { message_id: messageId } });
}

/** The REST path of a send, for the offline queue (idempotent on the client id). */
export const messagesPath = (conversationId: string): string => `/api/conversations/${encodeURIComponent(conversationId)}/messages`;

/** PATCH /api/conversations/{id}: any member renames a group. */
export async function renameConversation(api: Rest, conversationId: string, title: string): Promise<void> {
  await api.patch('/api/conversations/{conversation_id}', { path: { conversation_id: conversationId }, body: { title } });
}

/** POST …/members: any member adds someone of the organization to a group. */
export async function addMember(api: Rest, conversationId: string, userId: string): Promise<void> {
  await api.post('/api/conversations/{conversation_id}/members', { path: { conversation_id: conversationId }, body: { userId } });
}

/** DELETE …/members/{userId}: leave (one's own id), or remove someone (the group's creator, Owners, Admins). */
export function removeMember(api: Rest, conversationId: string, userId: string): Promise<void> {
  return api.delete('/api/conversations/{conversation_id}/members/{user_id}', { path: { conversation_id: conversationId, user_id: userId } });
}
