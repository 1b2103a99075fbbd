import { chatRoom } from '../events.gen';
import type { Subscription } from '../subscriptions';
import { subscribeTyped, type EventsOf, type RoomClient, type TypedSubscribeOptions } from './typed';

export type ChatEvent = EventsOf<'chat.'>;


export function subscribeChat(
  client: RoomClient,
  conversationId: string,
  options: TypedSubscribeOptions<ChatEvent>,
  orgId?: string,
): Subscription {
  return subscribeTyped(client, chatRoom(conversationId), options, orgId ? { orgId, phase: 'chat' } : undefined);
}
