import type { ComponentChildren } from 'preact';

export function AuthLayout({ title, subtitle, children }: { title: string; subtitle?: ComponentChildren; children: ComponentChildren }) {
  return (
    <main class="auth">
      <div class="auth-card">
        <div class="brand auth-brand">
          <span class="brand-mark" aria-hidden="true" />
          Tandem
        </div>
        <h1>{title}</h1>
        {subtitle && <p class="muted">{subtitle}</p>}
        {children}
      </div>
    </main>
  );
}

/** Where to go after signing in: a same-site path from ?next=, else the dashboard. */
export function nextPath(search: string): string {
  const next = new URLSearchParams(search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/dashboard';
}
