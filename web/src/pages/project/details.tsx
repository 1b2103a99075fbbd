import { useSignal } from '@preact/signals';
import { Link } from '../../app/router';
import { updateProject } from '../../sdk/domains/project';
import type { ProjectPatch, ProjectStatus } from '../../sdk/project/types';
import { renderMarkdown } from '../task/markdown';
import type { ProjectContext } from './context';
import { dueNote, longDay, STATUS_LABEL, STATUSES, today } from './view';

function save(ctx: ProjectContext, body: ProjectPatch): Promise<boolean> {
  return ctx.write('change', () => updateProject(ctx.api, ctx.projectId, body));
}

/** The project's name, status and dates: inline controls for who manages it, text for the others. */
export function Header({ ctx }: { ctx: ProjectContext }) {
  const { project } = ctx.data;
  const editing = useSignal<string | null>(null);
  const submit = async () => {
    const name = editing.value?.trim();
    editing.value = null;
    if (name && name !== project.name) await save(ctx, { name });
  };
  return (
    <header class="project-header">
      <nav class="project-crumbs muted" aria-label="Breadcrumbs">
        <Link href="/projects">Projects</Link> / <span aria-current="page">{project.name}</span>
      </nav>
      <div class="project-title-row">
        {editing.value !== null ? (
          <form
            class="project-title-form"
            onSubmit={(e) => {
              e.preventDefault();
              void submit();
            }}
          >
            <input
              aria-label="Project name"
              required
              maxLength={100}
              autoFocus
              value={editing.value}
              onInput={(e) => (editing.value = e.currentTarget.value)}
              onKeyDown={(e) => e.key === 'Escape' && (editing.value = null)}
              data-testid="project-rename-input"
            />
            <button type="submit" class="button button-primary button-small" data-testid="project-rename-save">
              Save
            </button>
            <button type="button" class="button button-ghost button-small" onClick={() => (editing.value = null)}>
              Cancel
            </button>
          </form>
        ) : (
          <>
            <h1 data-testid="project-name">{project.name}</h1>
            {ctx.manage && (
              <button type="button" class="icon-button" aria-label="Rename the project" onClick={() => (editing.value = project.name)} data-testid="project-name-edit">
                ✎
              </button>
            )}
          </>
        )}
        <span class={`pill pill-${project.status}`} data-testid="project-status-pill">
          {STATUS_LABEL[project.status]}
        </span>
        <span class="spacer" />
        <Link href={`/projects/${project.id}/board`} class="button button-primary" testid="project-board-link">
          Open the board
        </Link>
      </div>
      {project.status === 'archived' && (
        <p class="project-note" data-testid="project-archived">
          Archived — its tasks are read-only until the project is reopened.
        </p>
      )}
      <Fields ctx={ctx} />
    </header>
  );
}

function Fields({ ctx }: { ctx: ProjectContext }) {
  const { project } = ctx.data;
  const note = dueNote(project, today());
  if (!ctx.manage) {
    return (
      <dl class="project-fields" data-testid="project-fields" data-editable="false">
        <div>
          <dt>Status</dt>
          <dd data-testid="project-status">{STATUS_LABEL[project.status]}</dd>
        </div>
        <div>
          <dt>Start</dt>
          <dd data-testid="project-start">{project.startDate ? longDay(project.startDate) : 'Not set'}</dd>
        </div>
        <div>
          <dt>Due</dt>
          <dd data-testid="project-due">
            {project.dueDate ? longDay(project.dueDate) : 'Not set'}
            {note && <span class="muted"> · {note}</span>}
          </dd>
        </div>
      </dl>
    );
  }
  return (
    <div class="project-fields" data-testid="project-fields" data-editable="true">
      <label>
        <span>Status</span>
        <select value={project.status} onChange={(e) => void save(ctx, { status: e.currentTarget.value as ProjectStatus })} data-testid="project-status">
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {STATUS_LABEL[s]}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span>Start</span>
        <input type="date" value={project.startDate ?? ''} max={project.dueDate ?? undefined} onChange={(e) => void save(ctx, { startDate: e.currentTarget.value || null })} data-testid="project-start" />
      </label>
      <label>
        <span>Due{note && <span class="muted"> · {note}</span>}</span>
        <input type="date" value={project.dueDate ?? ''} min={project.startDate ?? undefined} onChange={(e) => void save(ctx, { dueDate: e.currentTarget.value || null })} data-testid="project-due" />
      </label>
    </div>
  );
}

/** The description in safe Markdown; its managers edit the source with a preview. */
export function Description({ ctx }: { ctx: ProjectContext }) {
  const { description } = ctx.data.project;
  const draft = useSignal<string | null>(null);
  const preview = useSignal(false);
  const saving = useSignal(false);
  const close = () => {
    draft.value = null;
    preview.value = false;
  };
  const submit = async () => {
    if (draft.value === null) return;
    saving.value = true;
    const ok = await save(ctx, { description: draft.value });
    saving.value = false;
    if (ok) close();
  };
  return (
    <section class="card project-section" aria-labelledby="project-description-heading" data-testid="project-description">
      <div class="project-section-head">
        <h2 id="project-description-heading">Description</h2>
        {ctx.manage && draft.value === null && (
          <button type="button" class="button button-ghost button-small" onClick={() => (draft.value = description)} data-testid="project-description-edit">
            Edit
          </button>
        )}
      </div>
      {draft.value === null ? (
        description.trim() ? (
          <div class="markdown" data-testid="project-description-text" dangerouslySetInnerHTML={{ __html: renderMarkdown(description) }} />
        ) : (
          <p class="muted" data-testid="project-description-text">
            No description yet.
          </p>
        )
      ) : (
        <div class="project-editor">
          <div class="tabs" role="tablist">
            <button type="button" role="tab" aria-selected={!preview.value} class={!preview.value ? 'tab tab-active' : 'tab'} onClick={() => (preview.value = false)}>
              Write
            </button>
            <button type="button" role="tab" aria-selected={preview.value} class={preview.value ? 'tab tab-active' : 'tab'} onClick={() => (preview.value = true)}>
              Preview
            </button>
          </div>
          {preview.value ? (
            <div class="markdown project-preview" dangerouslySetInnerHTML={{ __html: renderMarkdown(draft.value) }} />
          ) : (
            <textarea
              class="project-description-input"
              aria-label="Description (Markdown)"
              rows={8}
              maxLength={10000}
              autoFocus
              value={draft.value}
              onInput={(e) => (draft.value = e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void submit();
                if (e.key === 'Escape') close();
              }}
              data-testid="project-description-input"
            />
          )}
          <div class="project-actions">
            <button type="button" class="button button-primary button-small" disabled={saving.value} onClick={() => void submit()} data-testid="project-description-save">
              Save
            </button>
            <button type="button" class="button button-ghost button-small" onClick={close}>
              Cancel
            </button>
            <span class="muted">Markdown · Ctrl+Enter saves</span>
          </div>
        </div>
      )}
    </section>
  );
}
