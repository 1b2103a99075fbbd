/** The task history's lines, as people read them. */
// What each history verb reads as, before its detail (the server's `detail` is the object: a
// subtask's title, a file name, a quoted comment, "priority High → Urgent").
const VERBS: Record<string, string> = {
  created: 'created the task',
  updated: 'changed',
  moved: 'moved it:',
  commented: 'commented:',
  comment_edited: 'edited a comment:',
  comment_deleted: 'deleted a comment',
  subtask_added: 'added the subtask',
  subtask_done: 'checked off',
  subtask_reopened: 'reopened',
  subtask_renamed: 'renamed a subtask:',
  subtask_moved: 'reordered',
  subtask_removed: 'removed the subtask',
  attached: 'attached',
  detached: 'removed the file',
};

export function saidBy(verb: string, detail: string | null | undefined): string {
  const phrase = VERBS[verb] ?? verb.replace(/_/g, ' ');
  if (verb === 'created' || verb === 'comment_deleted' || !detail) return phrase;
  return `${phrase} ${detail}`;
}
