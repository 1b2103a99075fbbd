import { taskRoom } from '../events.gen';
import type { Subscription } from '../subscriptions';
import { subscribeTyped, type EventsOf, type RoomClient, type TypedSubscribeOptions } from './typed';

export type TaskEvent = EventsOf<'task.'>;


export function subscribeTask(
  client: RoomClient,
  taskId: string,
  options: TypedSubscribeOptions<TaskEvent>,
  orgId?: string,
): Subscription {
  return subscribeTyped(client, taskRoom(taskId), options, orgId ? { orgId, phase: 'task' } : undefined);
}
