import { useSignal } from '@preact/signals';
import { useRef } from 'preact/hooks';
import type { TaskView } from '../../sdk/task/live';
import { typingLine } from '../../sdk/task/typing';
import type { TaskContext } from './context';
import { renderMarkdown } from './markdown';
import { useTypingHint } from './typing-hint';

/** Markdown shown safe: see markdown.ts. */
export function Markdown({ text, testid }: { text: string; testid?: string }) {
  return <div class="markdown" data-testid={testid} dangerouslySetInnerHTML={{ __html: renderMarkdown(text) }} />;
}

interface Editing {
  text: string;
  /** The text the editing started from: the server merges from it. */
  base: string;
  baseRev: number | undefined;
  preview: boolean;
  /** Someone else's save that could not be merged with this one: shown beside it. */
  theirs: string | null;
  mine: string | null;
}

/**
 * The description, edited as Markdown text with a preview. A save carries the text it started
 * from: a change someone made meanwhile is merged by the server (a small note says so), and
 * when it cannot be, both versions are shown so the person can save a combined text.
 */
export function Description({ view, ctx }: { view: TaskView; ctx: TaskContext }) {
  const editing = useSignal<Editing | null>(null);
  const saving = useSignal(false);
  const note = useSignal<string | null>(null);
  const noteTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const hint = useTypingHint(ctx, 'description');
  const typist = typingLine(ctx.live.typing.active.value, 'description', ctx.nameOf);
  const text = view.task.description;

  const begin = () => {
    const confirmed = ctx.live.data?.task;
    editing.value = { text, base: confirmed?.description ?? text, baseRev: confirmed?.rev, preview: false, theirs: null, mine: null };
  };
  const close = () => {
    hint.stop();
    editing.value = null;
  };
  const save = async () => {
    const current = editing.value;
    if (!current || saving.value) return;
    saving.value = true;
    const outcome = await ctx.live.saveDescription(current.text, current.base, current.baseRev);
    saving.value = false;
    if (outcome.kind === 'conflict') {
      // Their text is what is stored now: a combined save starts from it.
      editing.value = { ...current, text: outcome.mine, base: outcome.theirs, baseRev: ctx.live.data?.task.rev, preview: false, theirs: outcome.theirs, mine: outcome.mine };
      return;
    }
    if (outcome.kind === 'failed') return;
    close();
    if (outcome.kind === 'merged') {
      note.value = 'Someone else edited the description meanwhile: both changes were kept.';
      if (noteTimer.current) clearTimeout(noteTimer.current);
      noteTimer.current = setTimeout(() => (note.value = null), 8_000);
    }
  };

  const current = editing.value;
  return (
    <section class="card task-section" data-testid="task-description">
      <div class="task-section-head">
        <h2>Description</h2>
        {ctx.canEdit && !current && (
          <button type="button" class="button button-ghost button-small" onClick={begin} data-testid="description-edit">
            Edit
          </button>
        )}
      </div>
      {typist && (
        <p class="task-typing" data-testid="description-typing">
          {typist}
        </p>
      )}
      {note.value && (
        <p class="task-note" data-testid="description-merged">
          {note.value}
        </p>
      )}
      {!current ? (
        text ? (
          <Markdown text={text} testid="description-text" />
        ) : (
          <p class="muted" data-testid="description-text">
            No description.
          </p>
        )
      ) : (
        <div class="description-editor">
          {current.theirs !== null && (
            <div class="description-conflict" data-testid="description-conflict">
              <p class="task-note">Someone else saved the description while you were editing, and the two could not be merged. Combine them below and save.</p>
              <div class="description-versions">
                <div>
                  <h3>Saved now</h3>
                  <pre data-testid="description-theirs">{current.theirs}</pre>
                </div>
                <div>
                  <h3>Yours</h3>
                  <pre data-testid="description-mine">{current.mine}</pre>
                </div>
              </div>
            </div>
          )}
          <div class="tabs" role="tablist">
            <button type="button" role="tab" aria-selected={!current.preview} class={!current.preview ? 'tab tab-active' : 'tab'} onClick={() => (editing.value = { ...current, preview: false })}>
              Edit
            </button>
            <button type="button" role="tab" aria-selected={current.preview} class={current.preview ? 'tab tab-active' : 'tab'} onClick={() => (editing.value = { ...current, preview: true })} data-testid="description-preview-tab">
              Preview
            </button>
          </div>
          {current.preview ? (
            <Markdown text={current.text} testid="description-preview" />
          ) : (
            <textarea
              class="description-input"
              aria-label="Description (Markdown)"
              rows={8}
              maxLength={20_000}
              value={current.text}
              autoFocus
              onInput={(e) => {
                editing.value = { ...current, text: e.currentTarget.value };
                hint.typed();
              }}
              onKeyDown={(e) => {
                if (e.key === 'Escape') close();
                if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void save();
              }}
              data-testid="description-input"
            />
          )}
          <div class="task-actions">
            <button type="button" class="button button-primary button-small" disabled={saving.value} onClick={() => void save()} data-testid="description-save">
              {current.theirs !== null ? 'Save combined text' : 'Save'}
            </button>
            <button type="button" class="button button-ghost button-small" onClick={close} data-testid="description-cancel">
              Cancel
            </button>
            <span class="muted">Markdown · Ctrl+Enter saves</span>
          </div>
        </div>
      )}
    </section>
  );
}
