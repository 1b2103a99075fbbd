import { useState } from 'preact/hooks';

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return '?';
  const first = parts[0][0] ?? '';
  const last = parts.length > 1 ? (parts[parts.length - 1][0] ?? '') : '';
  return (first + last).toUpperCase();
}

function hue(seed: string): number {
  let h = 0;
  for (let i = 0; i < seed.length; i++) h = (h * 31 + seed.charCodeAt(i)) >>> 0;
  return h % 360;
}

/** The person's picture, or their initials on a colour derived from their id. */
export function Avatar({ name, url, seed, size = 24 }: { name: string; url: string | null; seed: string; size?: number }) {
  const [broken, setBroken] = useState(false);
  const style = { width: `${size}px`, height: `${size}px`, fontSize: `${Math.round(size * 0.42)}px` };
  if (url && !broken) {
    return <img class="avatar" src={url} alt="" width={size} height={size} style={style} onError={() => setBroken(true)} />;
  }
  return (
    <span class="avatar avatar-initials" aria-hidden="true" style={{ ...style, background: `hsl(${hue(seed)} 55% 46%)` }}>
      {initials(name)}
    </span>
  );
}
