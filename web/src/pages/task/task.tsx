import { useSignal } from '@preact/signals';
import { useEffect, useMemo, useRef } from 'preact/hooks';
import { Link } from '../../app/router';
import { client, currentMembership, me, selectOrg } from '../../app/session';
import { toast } from '../../app/toasts';
import type { BoardNotice } from '../../sdk/board/notices';
import type { Priority, TaskFields } from '../../sdk/board/types';
import { watchMembers } from '../../sdk/domains/org';
import { projectPage } from '../../sdk/domains/project';
import { watchTask } from '../../sdk/domains/task';
import type { TaskView } from '../../sdk/task/live';
import { Avatar } from '../../ui/avatar';
import { RelativeTime } from '../../ui/time';
import { Attachments } from './attachments';
import { Comments } from './comments';
import type { TaskContext } from './context';
import { Description } from './description';
import { Subtasks } from './subtasks';
import './task.css';
import { saidBy } from './activity';

const PRIORITIES: readonly Priority[] = ['Low', 'Medium', 'High', 'Urgent'];

export function TaskPage({ taskId }: { taskId: string }) {
  const current = me.value;
  const orgId = currentMembership.value?.orgId;
  if (!current || !orgId) return null;
  return <LiveTaskPage key={`${taskId}:${orgId}`} taskId={taskId} orgId={orgId} userId={current.user.id} />;
}

function showNotice(notice: BoardNotice): void {
  toast(notice.message, notice.kind === 'refused' ? 'error' : 'info', 7_000, notice.action);
}

function LiveTaskPage({ taskId, orgId, userId }: { taskId: string; orgId: string; userId: string }) {
  const members = useMemo(() => watchMembers(client, orgId), [orgId]);
  const projectRole = useSignal<string | null | undefined>(undefined);
  const project = useSignal<{ id: string; name: string; columns: string[]; status: string } | null>(null);
  const failed = useSignal<string | null>(null);
  const nameOf = (id: string | null) => (id ? (members.store.peek(id)?.name ?? 'Someone') : 'Someone');
  const watched = useMemo(
    () => watchTask(client, taskId, userId, { notify: showNotice, nameOf, onError: (error) => (failed.value = error.message), orgId }),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- one watch per task and person
    [taskId, userId],
  );
  useEffect(
    () => () => {
      watched.close();
      members.subscription.close();
    },
    [watched, members],
  );
  const view = watched.task.view.value;
  const projectId = view?.task.projectId;
  useEffect(() => {
    if (!projectId) return;
    const abort = new AbortController();
    projectPage(client.api, projectId, abort.signal).then(
      (page) => {
        // A task of another of the person's organizations: switch to it (names, roles).
        if (page.project.orgId !== orgId) return selectOrg(page.project.orgId);
        project.value = { id: page.project.id, name: page.project.name, columns: [...page.project.columns], status: page.project.status };
        projectRole.value = page.members.find((m) => m.userId === userId)?.role ?? null;
      },
      () => undefined, // the task's own load reports a task out of reach
    );
    return () => abort.abort();
  }, [projectId, orgId, userId, project, projectRole]);

  const orgRole = currentMembership.value?.role;
  const role = projectRole.value;
  const archived = (watched.task.data?.projectStatus ?? project.value?.status) === 'archived';
  // The server's rule (projects/policy.py), as on the board: a Viewer (or an outside Guest) reads
  // only, and nobody changes the tasks of an archived project.
  const canEdit =
    !archived &&
    role !== undefined &&
    (orgRole === 'Owner' || orgRole === 'Admin' || role === 'Lead' || role === 'Contributor' || (orgRole === 'Member' && role === null));
  const ctx = useMemo<TaskContext>(
    () => ({
      live: watched.task,
      taskId,
      me: userId,
      canEdit,
      isAdmin: orgRole === 'Owner' || orgRole === 'Admin',
      isLead: role === 'Lead',
      person: (id) => {
        const row = id && members.store.ids.value.includes(id) ? members.store.get(id)?.value : undefined;
        return row ? { name: row.name, avatarUrl: row.avatarUrl } : null;
      },
      nameOf,
      assignees: () => members.store.values().filter((m) => m.role !== 'Guest' && m.status === 'active'),
      columns: () => watched.task.data?.columns ?? project.value?.columns ?? [],
      typing: watched.typing,
      tokens: client.tokens,
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- nameOf reads the live store
    [watched, taskId, userId, canEdit, orgRole, role, members, project.value],
  );

  if (!view) {
    if (failed.value) return <Unavailable title="This task cannot be shown" detail="It does not exist, or you no longer have access to it." />;
    return (
      <main class="page task-page">
        <p class="loading">Loading the task…</p>
      </main>
    );
  }
  if (view.gone) {
    return <Unavailable title="This task is no longer available" detail="It was deleted, or you no longer have access to it." projectId={view.task.projectId} />;
  }
  return (
    <main class="page task-page" data-testid="task-page" data-can-edit={role === undefined ? 'pending' : canEdit ? 'true' : 'false'}>
      <nav class="task-crumbs muted">
        <Link href="/projects">Projects</Link> /{' '}
        <Link href={`/projects/${view.task.projectId}`} testid="task-project-link">
          {project.value?.name ?? 'Project'}
        </Link>{' '}
        / <Link href={`/projects/${view.task.projectId}/board`} testid="task-board-link">Board</Link>
        {archived ? (
          <span class="pill pill-archived" data-testid="task-archived">
            Archived — read-only
          </span>
        ) : (
          role !== undefined &&
          !canEdit && (
            <span class="pill" data-testid="read-only">
              Read-only
            </span>
          )
        )}
      </nav>
      <Title view={view} ctx={ctx} />
      <Fields view={view} ctx={ctx} />
      <div class="task-layout">
        <div class="task-main">
          <Description view={view} ctx={ctx} />
          <Subtasks view={view} ctx={ctx} />
          <Comments view={view} ctx={ctx} />
        </div>
        <aside class="task-side">
          <Attachments view={view} ctx={ctx} />
          <ActivityList view={view} ctx={ctx} />
        </aside>
      </div>
    </main>
  );
}

function Unavailable({ title, detail, projectId }: { title: string; detail: string; projectId?: string }) {
  return (
    <main class="page task-page">
      <section class="card empty-state" data-testid="task-unavailable">
        <h1>{title}</h1>
        <p class="muted">{detail}</p>
        <Link href={projectId ? `/projects/${projectId}/board` : '/projects'} class="button button-primary">
          {projectId ? 'Back to the board' : 'Go to the projects'}
        </Link>
      </section>
    </main>
  );
}

function Title({ view, ctx }: { view: TaskView; ctx: TaskContext }) {
  const editing = useSignal<string | null>(null);
  const baseRev = useRef<number | undefined>(undefined);
  const save = () => {
    const title = editing.value?.trim();
    editing.value = null;
    if (title) ctx.live.edit({ title }, baseRev.current);
  };
  if (editing.value !== null) {
    return (
      <form
        class="task-title-form"
        onSubmit={(e) => {
          e.preventDefault();
          save();
        }}
      >
        <input
          class="task-title-input"
          aria-label="Title"
          maxLength={200}
          required
          autoFocus
          value={editing.value}
          onInput={(e) => (editing.value = e.currentTarget.value)}
          onKeyDown={(e) => e.key === 'Escape' && (editing.value = null)}
          data-testid="task-title-input"
        />
        <button type="submit" class="button button-primary button-small" data-testid="task-title-save">
          Save
        </button>
        <button type="button" class="button button-ghost button-small" onClick={() => (editing.value = null)}>
          Cancel
        </button>
      </form>
    );
  }
  return (
    <div class="task-title-row">
      <h1 data-testid="task-title" data-pending={view.task.pending ? 'true' : undefined}>
        {view.task.title}
      </h1>
      {ctx.canEdit && (
        <button
          type="button"
          class="icon-button"
          aria-label="Edit the title"
          data-testid="task-title-edit"
          onClick={() => {
            baseRev.current = ctx.live.data?.task.rev;
            editing.value = view.task.title;
          }}
        >
          ✎
        </button>
      )}
    </div>
  );
}

/** Status, priority, assignee and due date, each saved as soon as it changes, with the rev seen on focus. */
function Fields({ view, ctx }: { view: TaskView; ctx: TaskContext }) {
  const { task } = view;
  const seen = useRef<number | undefined>(undefined);
  const onFocus = () => (seen.current = ctx.live.data?.task.rev);
  const edit = (changes: Partial<TaskFields>) => ctx.live.edit(changes, seen.current);
  const assignee = ctx.person(task.assigneeId);
  if (!ctx.canEdit) {
    return (
      <dl class="task-fields" data-testid="task-fields">
        <div><dt>Status</dt><dd data-testid="task-status">{task.status}</dd></div>
        <div><dt>Priority</dt><dd data-testid="task-priority">{task.priority}</dd></div>
        <div><dt>Assignee</dt><dd data-testid="task-assignee">{assignee?.name ?? 'Unassigned'}</dd></div>
        <div><dt>Due</dt><dd data-testid="task-due">{task.dueDate ?? 'No due date'}</dd></div>
      </dl>
    );
  }
  const columns = ctx.columns().includes(task.status) ? ctx.columns() : [task.status, ...ctx.columns()];
  return (
    <div class="task-fields" data-testid="task-fields">
      <label>
        <span>Status</span>
        <select value={task.status} onFocus={onFocus} onChange={(e) => ctx.live.setStatus(e.currentTarget.value, seen.current)} data-testid="task-status">
          {columns.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span>Priority</span>
        <select value={task.priority} onFocus={onFocus} onChange={(e) => edit({ priority: e.currentTarget.value as Priority })} data-testid="task-priority">
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span>Assignee</span>
        <select value={task.assigneeId ?? ''} onFocus={onFocus} onChange={(e) => edit({ assigneeId: e.currentTarget.value || null })} data-testid="task-assignee">
          <option value="">Unassigned</option>
          {ctx.assignees().map((m) => (
            <option key={m.userId} value={m.userId}>
              {m.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span>Due</span>
        <input type="date" value={task.dueDate ?? ''} onFocus={onFocus} onChange={(e) => edit({ dueDate: e.currentTarget.value || null })} data-testid="task-due" />
      </label>
    </div>
  );
}

function ActivityList({ view, ctx }: { view: TaskView; ctx: TaskContext }) {
  return (
    <section class="card task-section" data-testid="task-activity">
      <h2>Activity</h2>
      {view.activity.length === 0 ? (
        <p class="muted">Nothing yet.</p>
      ) : (
        <ol class="task-activity">
          {view.activity.map((a) => {
            const who = ctx.person(a.actorId);
            return (
              <li key={a.id} data-testid="activity-item">
                <Avatar name={who?.name ?? 'Someone'} url={who?.avatarUrl ?? null} seed={a.actorId ?? a.id} size={18} />
                <span class="task-activity-text">
                  <strong>{who?.name ?? 'Someone'}</strong> {saidBy(a.verb, a.detail)}{' '}
                  <span class="muted task-when">
                    <RelativeTime iso={a.createdAt} />
                  </span>
                </span>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}

