import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import { DashboardPage } from '../pages/dashboard/dashboard';
import { InvitePage } from '../pages/invite';
import { LoginPage } from '../pages/login';
import { nextPath } from '../pages/auth-layout';
import { SignupPage } from '../pages/signup';
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
