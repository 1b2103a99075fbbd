import { signal } from '@preact/signals';
import type { ComponentChildren } from 'preact';

/** The current location; pages read it and re-render on navigation. */
export const location = signal({ path: window.location.pathname, search: window.location.search });

function sync(): void {
  location.value = { path: window.location.pathname, search: window.location.search };
}

window.addEventListener('popstate', sync);

export function navigate(to: string, { replace = false }: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  sync();
}

/** Updates the query string without a history entry (sort and filter state). */
export function setQuery(params: Record<string, string | null>): void {
  const query = new URLSearchParams(window.location.search);
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === '') query.delete(key);
    else query.set(key, value);
  }
  const search = query.toString() ? `?${query}` : '';
  window.history.replaceState(null, '', window.location.pathname + search);
  location.value = { path: window.location.pathname, search };
}

export function queryParam(name: string): string | null {
  return new URLSearchParams(location.peek().search).get(name);
}

/** `/invite/:token` → {token} when it matches. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/');
  const s = path.replace(/\/+$/, '').split('/');
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

/** A same-origin link that navigates without a page load. */
export function Link(props: { href: string; children: ComponentChildren; class?: string; testid?: string; current?: boolean }) {
  return (
    <a
      href={props.href}
      class={props.class}
      data-testid={props.testid}
      aria-current={props.current ? 'page' : undefined}
      onClick={(e: MouseEvent) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}
