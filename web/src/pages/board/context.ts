import type { HeldHint } from '../../sdk/board/hints';
import type { LiveBoard } from '../../sdk/board/live';
import type { EditableField } from '../../sdk/board/types';
import type { BoardFilters, Direction } from './filters';

export interface Person {
  name: string;
  avatarUrl: string | null;
}

/** What every column and card of one board needs; made once per board so their props stay equal. */
export interface BoardContext {
  board: LiveBoard;
  /** False for a Viewer: the board is read-only. */
  canEdit: boolean;
  /** A person's name and avatar, from the organization's live members. */
  person(userId: string): Person | null;
  /** The people a card may be assigned to. */
  assignees(): Array<{ userId: string; name: string }>;
  filters(): BoardFilters;
  lock(taskId: string): HeldHint;
  typing(taskId: string, field: EditableField): HeldHint;
  moveByKeyboard(taskId: string, direction: Direction): void;
  /** Tells screen readers what just happened on the board. */
  announce(text: string): void;
}
