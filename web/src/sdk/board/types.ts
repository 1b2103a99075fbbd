import type { components } from '../api.gen';
import type { EventMap, KanbanLockData, KanbanTypingData, TaskConflict, TaskOut } from '../events.gen';

/** The board's wire shapes, from the generated contract. */

/** A card: the contract's task (with its subtask and file counts). */
export type Task = TaskOut;

export type Priority = TaskOut['priority'];

/** The task fields a person edits on the board, by their wire names. */
export type EditableField = 'title' | 'description' | 'priority' | 'assigneeId' | 'dueDate';
export type TaskFields = Pick<Task, EditableField>;

/** What a write collided with: the fields someone else changed since `baseRev`, and who. */
export type EditConflict = TaskConflict;

export type LockHintWire = Pick<KanbanLockData, 'taskId' | 'userId' | 'expiresInMs'>;
export type TypingHintWire = Pick<KanbanTypingData, 'taskId' | 'userId' | 'expiresInMs' | 'field'>;

/** GET /api/projects/{id}/board; `hints` optional, as a server from before the board contract lacks them. */
export type BoardSnapshot = Omit<components['schemas']['BoardOut'], 'hints'> & {
  hints?: { locks: LockHintWire[]; typing: TypingHintWire[] };
};

/** Placement inside a column, as move and create take it. */
export interface Placement {
  beforeTaskId?: string | null;
  afterTaskId?: string | null;
}

/** The events the board applies, typed by the generated contract. */
export type BoardEventData = Pick<EventMap, 'kanban.task.created' | 'kanban.task.updated' | 'kanban.task.moved' | 'kanban.task.deleted' | 'project.updated'>;

export type BoardEventName = keyof BoardEventData;

export interface BoardEnvelope<K extends BoardEventName = BoardEventName> {
  event: K;
  seq?: number;
  room: string;
  data: BoardEventData[K];
  meta?: { actorId?: string | null };
}

export type AnyBoardEnvelope = { [K in BoardEventName]: BoardEnvelope<K> }[BoardEventName];
