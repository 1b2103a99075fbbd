import { useSignal } from '@preact/signals';
import { useEffect, useMemo } from 'preact/hooks';
import { Link, navigate } from '../../app/router';
import { client, currentMembership, currentOrgId, me } from '../../app/session';
import { errorMessage, toastReaderError } from '../../app/toasts';
import { createProject, watchProjects } from '../../sdk/domains/project';
import { progress, type ProjectRow, type ProjectsStore } from '../../sdk/reducers/projects';
import { Dialog } from '../../ui/dialog';

const STATUS_LABEL: Record<ProjectRow['project']['status'], string> = {
  active: 'Active',
  on_hold: 'On hold',
  completed: 'Completed',
  archived: 'Archived',
};

export function ProjectsPage() {
  const current = me.value;
  const orgId = currentOrgId.value;
  if (!current) return null;
  if (!orgId) {
    navigate('/dashboard', { replace: true });
    return null;
  }
  const guest = currentMembership.value?.role === 'Guest';
  return <OrgProjects key={`${orgId}:${guest}`} orgId={orgId} userId={current.user.id} guest={guest} />;
}

function OrgProjects({ orgId, userId, guest }: { orgId: string; userId: string; guest: boolean }) {
  const live = useMemo(() => watchProjects(client, orgId, { userId, guest }, toastReaderError), [orgId, userId, guest]);
  useEffect(() => () => live.close(), [live]);
  const creating = useSignal(false);
  const ids = live.store.ids.value;
  return (
    <main class="page">
      <div class="page-header">
        <h1>Projects</h1>
        <span class="count" data-testid="projects-count">
          {live.store.loaded.value ? ids.length : ''}
        </span>
        <span class="spacer" />
        <button
          type="button"
          class="button button-primary"
          disabled={guest}
          title={guest ? 'Guests cannot create projects' : undefined}
          onClick={() => (creating.value = true)}
          data-testid="new-project"
        >
          New project
        </button>
      </div>
      {!live.store.loaded.value ? (
        <section class="card">
          <p class="loading">Loading projects…</p>
        </section>
      ) : ids.length === 0 ? (
        <section class="card empty-state" data-testid="no-projects">
          <h2>No projects yet</h2>
          <p class="muted">{guest ? 'You will see the projects you are added to here.' : 'Start one with “New project”.'}</p>
        </section>
      ) : (
        <ul class="project-list" data-testid="projects">
          {ids.map((id) => (
            <ProjectItem key={id} store={live.store} id={id} />
          ))}
        </ul>
      )}
      {creating.value && <NewProjectDialog orgId={orgId} onClose={() => (creating.value = false)} />}
    </main>
  );
}

function ProjectItem({ store, id }: { store: ProjectsStore; id: string }) {
  const row = store.get(id)?.value;
  if (!row) return null;
  const { project, metrics } = row;
  const done = progress(metrics);
  const overdue = project.dueDate !== null && project.status !== 'completed' && project.dueDate < new Date().toISOString().slice(0, 10);
  return (
    <li class="card project-item" data-testid="project-item" data-project-id={project.id}>
      <div class="project-head">
        <Link href={`/projects/${project.id}`} class="project-name" testid="project-link">
          {project.name}
        </Link>
        <span class={`pill pill-${project.status}`}>{STATUS_LABEL[project.status]}</span>
        <Link href={`/projects/${project.id}/board`} class="button button-ghost button-small" testid="project-board-link">
          Board
        </Link>
        {project.dueDate && (
          <span class={overdue ? 'due due-overdue' : 'due muted'} title="Due date">
            Due {new Date(`${project.dueDate}T00:00:00Z`).toLocaleDateString(undefined, { month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' })}
          </span>
        )}
      </div>
      {project.description && <p class="project-description muted">{project.description}</p>}
      <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={done} aria-label={`${project.name}: ${done}% done`}>
        <span class="progress-bar" style={{ width: `${done}%` }} />
      </div>
      <div class="project-counts" data-testid="project-counts">
        <span>
          <strong data-testid="project-done">{metrics.done}</strong> of <strong data-testid="project-total">{metrics.total}</strong> done · {done}%
        </span>
        <span class="spacer" />
        {metrics.columns.map((c) => (
          <span key={c.name} class="column-count" title={`${c.count} in ${c.name}`}>
            {c.name} <strong>{c.count}</strong>
          </span>
        ))}
      </div>
    </li>
  );
}

function NewProjectDialog({ orgId, onClose }: { orgId: string; onClose: () => void }) {
  const name = useSignal('');
  const description = useSignal('');
  const dueDate = useSignal('');
  const busy = useSignal(false);
  const error = useSignal<string | null>(null);
  return (
    <Dialog title="New project" onClose={onClose} testid="new-project-dialog">
      <form
        class="stack"
        onSubmit={async (e) => {
          e.preventDefault();
          busy.value = true;
          error.value = null;
          try {
            await createProject(client.api, orgId, {
              name: name.value.trim(),
              description: description.value.trim(),
              dueDate: dueDate.value || null,
            });
            onClose();
          } catch (err) {
            error.value = errorMessage(err);
          } finally {
            busy.value = false;
          }
        }}
      >
        <label class="field">
          <span>Name</span>
          <input required maxLength={100} value={name.value} onInput={(e) => (name.value = e.currentTarget.value)} data-testid="project-name-input" />
        </label>
        <label class="field">
          <span>Description</span>
          <textarea rows={3} maxLength={10000} value={description.value} onInput={(e) => (description.value = e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Due date (optional)</span>
          <input type="date" value={dueDate.value} onInput={(e) => (dueDate.value = e.currentTarget.value)} />
        </label>
        {error.value && (
          <p class="form-error" role="alert">
            {error.value}
          </p>
        )}
        <div class="actions">
          <button type="button" class="button button-ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button button-primary" disabled={busy.value} data-testid="create-project-submit">
            Create project
          </button>
        </div>
      </form>
    </Dialog>
  );
}
