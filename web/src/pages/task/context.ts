import type { HeldHint } from '../../sdk/board/hints';
import type { LiveTask } from '../../sdk/task/live';
import type { TypingField } from '../../sdk/task/typing';
import type { TokenStore } from '../../sdk/tokens';

export interface Person {
  name: string;
  avatarUrl: string | null;
}

/** What every section of one task page needs; made once per page so their props stay equal. */
export interface TaskContext {
  live: LiveTask;
  taskId: string;
  me: string;
  /** False for a Viewer: no edit controls. */
  canEdit: boolean;
  /** An org Owner or Admin: may delete anyone's comment and file. */
  isAdmin: boolean;
  /** The project's Lead: may delete anyone's file. */
  isLead: boolean;
  person(userId: string | null): Person | null;
  nameOf(userId: string | null): string;
  assignees(): Array<{ userId: string; name: string }>;
  columns(): readonly string[];
  typing(field: TypingField): HeldHint;
  tokens: TokenStore;
}
