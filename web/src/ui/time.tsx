import { signal } from '@preact/signals';

/** A clock for relative times, ticking every 30 s once something shows one. */
const now = signal(Date.now());
let ticking = false;

function tick(): void {
  if (ticking) return;
  ticking = true;
  setInterval(() => (now.value = Date.now()), 30_000);
}

export function relativeTime(iso: string, nowMs: number): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return '—';
  const seconds = Math.round((nowMs - then) / 1000);
  if (seconds < 45) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days === 1) return 'yesterday';
  if (days < 30) return `${days} days ago`;
  return new Date(then).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

export function RelativeTime({ iso }: { iso: string | null }) {
  tick();
  if (!iso) return <span class="muted">—</span>;
  return (
    <time dateTime={iso} title={new Date(iso).toLocaleString()}>
      {relativeTime(iso, now.value)}
    </time>
  );
}
