import { signal, useSignal } from '@preact/signals';
import { useEffect, useLayoutEffect, useMemo } from 'preact/hooks';
import { Link, location, setQuery } from '../../app/router';
import { client, currentMembership, me, selectOrg } from '../../app/session';
import { toast } from '../../app/toasts';
import type { BoardNotice } from '../../sdk/board/notices';
import { watchBoard } from '../../sdk/domains/board';
import { watchMembers } from '../../sdk/domains/org';
import { projectPage } from '../../sdk/domains/project';
import { isLost } from '../../sdk/project/live';
import type { Priority } from '../../sdk/board/types';
import { refocus } from './card';
import { Column, shownIds } from './column';
import type { BoardContext } from './context';
import { filtersFrom, keyboardTarget, type Direction } from './filters';
import { installBoardHooks, renderClock } from './measure';
import './board.css';

const PRIORITIES: readonly Priority[] = ['Low', 'Medium', 'High', 'Urgent'];

export function BoardPage({ projectId }: { projectId: string }) {
  const current = me.value;
  const orgId = currentMembership.value?.orgId;
  if (!current || !orgId) return null;
  return <LiveBoardPage key={`${projectId}:${orgId}`} projectId={projectId} orgId={orgId} userId={current.user.id} />;
}

function showNotice(notice: BoardNotice): void {
  const kind = notice.kind === 'deleted' ? 'success' : notice.kind === 'refused' ? 'error' : 'info';
  toast(notice.message, kind, notice.action ? 8_000 : 7_000, notice.action);
}

function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);
}

/** Says where a keyboard move put a card, for screen readers. */
const announcement = signal('');

function LiveBoardPage({ projectId, orgId, userId }: { projectId: string; orgId: string; userId: string }) {
  const members = useMemo(() => watchMembers(client, orgId), [orgId]);
  const projectRole = useSignal<string | null | undefined>(undefined);
  const projectName = useSignal('');
  const failed = useSignal<string | null>(null);
  const lost = useSignal(false);
  const watched = useMemo(() => {
    renderClock.start();
    return watchBoard(client, projectId, orgId, userId, {
      notify: showNotice,
      nameOf: (id) => members.store.peek(id)?.name ?? 'Someone',
      onError: (error) => {
        lost.value = isLost(error);
        failed.value = error.message;
      },
      onLoad: () => renderClock.loaded(),
    });
  }, [projectId, orgId, userId, members, failed, lost]);
  useEffect(
    () => () => {
      watched.close();
      members.subscription.close();
    },
    [watched, members],
  );
  useEffect(() => {
    const abort = new AbortController();
    projectPage(client.api, projectId, abort.signal).then(
      (page) => {
        // A board of another of the person's organizations: switch to it (names, roles, flags).
        if (page.project.orgId !== orgId) return selectOrg(page.project.orgId);
        projectName.value = page.project.name;
        projectRole.value = page.members.find((m) => m.userId === userId)?.role ?? null;
      },
      () => undefined, // the board's own load reports a missing project
    );
    return () => abort.abort();
  }, [projectId, orgId, userId, projectName, projectRole]);

  const orgRole = currentMembership.value?.role;
  const role = projectRole.value;
  const board = watched.board;
  const archived = board.view.archived.value;
  // The server's rule (projects/policy.py): Owners and Admins edit, Leads and Contributors edit,
  // a Member with no project role edits; a Viewer (or a Guest who is not a Lead/Contributor) does not;
  // and nobody changes the tasks of an archived project.
  const roleEdits =
    role !== undefined && (orgRole === 'Owner' || orgRole === 'Admin' || role === 'Lead' || role === 'Contributor' || (orgRole === 'Member' && role === null));
  const canEdit = roleEdits && !archived;

  const ctx = useMemo<BoardContext>(
    () => ({
      board,
      canEdit,
      person: (id) => {
        const row = members.store.ids.value.includes(id) ? members.store.get(id)?.value : undefined;
        return row ? { name: row.name, avatarUrl: row.avatarUrl } : null;
      },
      assignees: () => members.store.values().filter((m) => m.role !== 'Guest' && m.status === 'active'),
      filters: () => filtersFrom(location.value.search),
      lock: watched.lock,
      typing: watched.typing,
      announce: (text: string) => (announcement.value = text),
      moveByKeyboard(taskId: string, direction: Direction) {
        const at = board.view.locate(taskId);
        if (!at) return;
        const columns = board.view.columns.peek();
        const target = keyboardTarget(columns, (c) => shownIds(ctx, c), taskId, at.column, direction);
        if (!target) return;
        refocus.value = taskId;
        board.move(taskId, target.column, target.placement);
        const count = board.view.ids(target.column).peek().length;
        announcement.value = `Moved “${board.title(taskId)}” to ${target.column}, position ${target.index + 1} of ${count}.`;
      },
    }),
    [board, canEdit, members, watched],
  );

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || e.key.toLowerCase() !== 'z' || isTyping(e.target) || !canEdit) return;
      e.preventDefault();
      if (e.shiftKey) board.redo();
      else board.undo();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [board, canEdit]);
  useEffect(() => installBoardHooks(board), [board]);

  const loaded = board.view.loaded.value;
  useLayoutEffect(() => {
    if (loaded) renderClock.rendered();
  }, [loaded]);

  return (
    <main class="page board-page" data-testid="board-page" data-can-edit={canEdit ? 'true' : 'false'}>
      <div class="page-header board-header">
        <Link href="/projects" class="muted">
          Projects
        </Link>
        <span class="muted">/</span>
        <h1 data-testid="board-title">
          <Link href={`/projects/${projectId}`} class="board-project-link" testid="board-project-link">
            {board.view.name.value || projectName.value || 'Board'}
          </Link>
        </h1>
        {archived ? (
          <span class="pill pill-archived" data-testid="board-archived">
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
        <span class="spacer" />
        {canEdit && <UndoRedo ctx={ctx} />}
      </div>
      <Filters ctx={ctx} />
      {failed.value && (lost.value || !loaded) ? (
        <section class="card empty-state" data-testid="board-error" role="alert">
          <h2>{loaded ? 'You no longer have access to this board' : 'This board cannot be shown'}</h2>
          <p class="muted">{loaded ? 'You were taken off the project, or it is no longer there.' : failed.value}</p>
          <Link href="/projects" class="button button-primary">
            Go to the projects
          </Link>
        </section>
      ) : !loaded ? (
        <p class="loading">Loading the board…</p>
      ) : (
        <div class="board-columns" data-testid="board-columns">
          {board.view.columns.value.map((name) => (
            <Column key={name} name={name} ctx={ctx} />
          ))}
        </div>
      )}
      <div class="visually-hidden" aria-live="assertive" data-testid="board-announcer">
        {announcement.value}
      </div>
    </main>
  );
}

function UndoRedo({ ctx }: { ctx: BoardContext }) {
  const { history } = ctx.board;
  return (
    <div class="board-history">
      <button type="button" class="button button-ghost button-small" disabled={history.undoable.value.length === 0} onClick={() => ctx.board.undo()} data-testid="undo" title="Undo (Ctrl+Z)">
        ↶ Undo
      </button>
      <button type="button" class="button button-ghost button-small" disabled={history.redoable.value.length === 0} onClick={() => ctx.board.redo()} data-testid="redo" title="Redo (Ctrl+Shift+Z)">
        ↷ Redo
      </button>
    </div>
  );
}

function Filters({ ctx }: { ctx: BoardContext }) {
  const filters = ctx.filters();
  return (
    <div class="board-filters" role="search">
      <input
        type="search"
        class="filter"
        placeholder="Filter cards"
        aria-label="Filter cards by title"
        value={filters.text}
        onInput={(e) => setQuery({ q: e.currentTarget.value })}
        data-testid="filter-text"
      />
      <select aria-label="Assignee" value={filters.assignee ?? ''} onChange={(e) => setQuery({ assignee: e.currentTarget.value })} data-testid="filter-assignee">
        <option value="">Anyone</option>
        <option value="none">Unassigned</option>
        {ctx.assignees().map((m) => (
          <option key={m.userId} value={m.userId}>
            {m.name}
          </option>
        ))}
      </select>
      <select aria-label="Priority" value={filters.priority ?? ''} onChange={(e) => setQuery({ priority: e.currentTarget.value })} data-testid="filter-priority">
        <option value="">Any priority</option>
        {PRIORITIES.map((p) => (
          <option key={p} value={p}>
            {p}
          </option>
        ))}
      </select>
      <span class="muted board-help">Move a focused card with Alt+arrows · Enter edits · Ctrl+Z undoes</span>
    </div>
  );
}
