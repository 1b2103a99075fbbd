import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import { BoardPage } from '../pages/board/board';
import { DashboardPage } from '../pages/dashboard/dashboard';
import { InvitePage } from '../pages/invite';
import { ProjectPage } from '../pages/project/project';
import { ProjectsPage } from '../pages/projects/projects';
import { RealtimeSettingsPage } from '../pages/settings/realtime';
import { LoginPage } from '../pages/login';
import { MessagesPage } from '../pages/messages/messages';
import { nextPath } from '../pages/auth-layout';
import { SignupPage } from '../pages/signup';
import { TaskPage } from '../pages/task/task';
import { Header } from '../ui/header';
import { Toasts } from '../ui/toasts';
import { Link, location, match, navigate } from './router';
import { booting, me } from './session';

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

function Shell({ children }: { children: ComponentChildren }) {
  return (
    <div class="shell">
      <Header />
      {children}
    </div>
  );
}

function Routes() {
  const { path, search } = location.value;
  if (booting.value) return <div class="splash" aria-busy="true" />;
  const invite = match('/invite/:token', path);
  if (invite) return <InvitePage token={invite.token} />;
  if (path === '/login' || path === '/signup') {
    if (me.value) return <Redirect to={nextPath(search)} />;
    return path === '/login' ? <LoginPage /> : <SignupPage />;
  }
  if (!me.value) return <Redirect to={`/login?next=${encodeURIComponent(path + search)}`} />;
  if (path === '/' || path === '') return <Redirect to="/dashboard" />;
  if (path === '/dashboard') {
    return (
      <Shell>
        <DashboardPage />
      </Shell>
    );
  }
  const board = match('/projects/:projectId/board', path);
  if (board) {
    return (
      <Shell>
        <BoardPage projectId={board.projectId} />
      </Shell>
    );
  }
  // After the board's route: `/projects/:projectId` never matches a longer path, but keep the specific first.
  const project = match('/projects/:projectId', path);
  if (project) {
    return (
      <Shell>
        <ProjectPage projectId={project.projectId} />
      </Shell>
    );
  }
  const task = match('/tasks/:taskId', path);
  if (task) {
    return (
      <Shell>
        <TaskPage taskId={task.taskId} />
      </Shell>
    );
  }
  const conversation = match('/messages/:conversationId', path);
  if (path === '/messages' || conversation) {
    return (
      <Shell>
        <MessagesPage conversationId={conversation?.conversationId} />
      </Shell>
    );
  }
  if (path === '/settings/realtime') {
    return (
      <Shell>
        <RealtimeSettingsPage />
      </Shell>
    );
  }
  if (path === '/projects') {
    return (
      <Shell>
        <ProjectsPage />
      </Shell>
    );
  }
  return (
    <Shell>
      <main class="page">
        <section class="card empty-state" data-testid="not-found">
          <h1>Page not found</h1>
          <p class="muted">There is nothing at {path}.</p>
          <Link href="/dashboard" class="button button-primary">
            Go to the dashboard
          </Link>
        </section>
      </main>
    </Shell>
  );
}

export function App() {
  return (
    <>
      <Routes />
      <Toasts />
    </>
  );
}
