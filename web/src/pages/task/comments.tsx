import { useSignal } from '@preact/signals';
import type { TaskView } from '../../sdk/task/live';
import type { Comment } from '../../sdk/task/types';
import { typingLine } from '../../sdk/task/typing';
import { Avatar } from '../../ui/avatar';
import { RelativeTime } from '../../ui/time';
import type { TaskContext } from './context';
import { Markdown } from './description';
import { useTypingHint } from './typing-hint';

const MAX_COMMENT = 10_000;

/** The comments, oldest first: post (shown at once), edit and delete one's own; Owners and Admins delete any. */
export function Comments({ view, ctx }: { view: TaskView; ctx: TaskContext }) {
  const draft = useSignal('');
  const hint = useTypingHint(ctx, 'comment');
  const typist = typingLine(ctx.live.typing.active.value, 'comment', ctx.nameOf);
  const post = (e?: Event) => {
    e?.preventDefault();
    const text = draft.value.trim();
    if (!text) return;
    ctx.live.addComment(text);
    draft.value = '';
    hint.stop();
  };
  return (
    <section class="card task-section" data-testid="task-comments">
      <h2>Comments</h2>
      {view.comments.length === 0 && <p class="muted">No comments yet.</p>}
      <ol class="comment-list">
        {view.comments.map((c) => (
          <CommentItem key={c.id} comment={c} ctx={ctx} />
        ))}
      </ol>
      {typist && (
        <p class="task-typing" data-testid="comment-typing">
          {typist}
        </p>
      )}
      {ctx.canEdit && (
        <form class="comment-form" onSubmit={post}>
          <textarea
            aria-label="New comment (Markdown)"
            placeholder="Write a comment (Markdown)"
            rows={3}
            maxLength={MAX_COMMENT}
            value={draft.value}
            onInput={(e) => {
              draft.value = e.currentTarget.value;
              if (draft.value) hint.typed();
              else hint.stop();
            }}
            onBlur={hint.stop}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) post(e);
            }}
            data-testid="comment-input"
          />
          <div class="task-actions">
            <button type="submit" class="button button-primary button-small" disabled={!draft.value.trim()} data-testid="comment-post">
              Comment
            </button>
            <span class="muted">Ctrl+Enter posts</span>
          </div>
        </form>
      )}
    </section>
  );
}

function CommentItem({ comment, ctx }: { comment: Comment & { pending?: boolean }; ctx: TaskContext }) {
  const editing = useSignal<string | null>(null);
  const author = ctx.person(comment.authorId);
  const name = author?.name ?? 'Someone';
  const mine = comment.authorId === ctx.me;
  const real = !comment.id.startsWith('tmp_');
  const canDelete = real && ctx.canEdit && (mine || ctx.isAdmin);
  const save = (e: Event) => {
    e.preventDefault();
    const text = editing.value?.trim();
    editing.value = null;
    if (text && text !== comment.text) ctx.live.send('edit a comment on', (api) => api.editComment(comment.id, text));
  };
  return (
    <li class="comment" data-testid="comment" data-comment-id={comment.id} data-pending={comment.pending ? 'true' : undefined}>
      <div class="comment-head">
        <Avatar name={name} url={author?.avatarUrl ?? null} seed={comment.authorId ?? comment.id} size={22} />
        <strong data-testid="comment-author">{name}</strong>
        <span class="muted task-when">
          <RelativeTime iso={comment.createdAt} />
          {comment.editedAt && (
            <span data-testid="comment-edited" title={`Edited ${new Date(comment.editedAt).toLocaleString()}`}>
              {' '}
              · edited
            </span>
          )}
        </span>
        <span class="spacer" />
        {real && mine && ctx.canEdit && editing.value === null && (
          <button type="button" class="button button-ghost button-small" onClick={() => (editing.value = comment.text)} data-testid="comment-edit">
            Edit
          </button>
        )}
        {canDelete && (
          <button type="button" class="button button-ghost button-small" onClick={() => ctx.live.send('delete a comment on', (api) => api.removeComment(comment.id))} data-testid="comment-delete">
            Delete
          </button>
        )}
      </div>
      {editing.value !== null ? (
        <form class="comment-form" onSubmit={save}>
          <textarea aria-label="Comment" rows={3} maxLength={MAX_COMMENT} value={editing.value} autoFocus onInput={(e) => (editing.value = e.currentTarget.value)} data-testid="comment-edit-input" />
          <div class="task-actions">
            <button type="submit" class="button button-primary button-small" data-testid="comment-save">
              Save
            </button>
            <button type="button" class="button button-ghost button-small" onClick={() => (editing.value = null)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <Markdown text={comment.text} testid="comment-text" />
      )}
    </li>
  );
}
