import { projectRoom } from '../events.gen';
import type { Phase } from '../flags';
import type { Subscription } from '../subscriptions';
import { subscribeTyped, type EventsOf, type RoomClient, type TypedSubscribeOptions } from './typed';

/** A project room carries the board's events and the project page's. */
export type ProjectEvent = EventsOf<'project.'> | EventsOf<'kanban.'>;


export function subscribeProject(
  client: RoomClient,
  projectId: string,
  options: TypedSubscribeOptions<ProjectEvent>,
  flag?: { orgId: string; phase: Extract<Phase, 'kanban' | 'project'> },
): Subscription {
  return subscribeTyped(client, projectRoom(projectId), options, flag);
}
