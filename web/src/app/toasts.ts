import { signal } from '@preact/signals';

export type ToastKind = 'error' | 'info' | 'success';

export interface Toast {
  id: number;
  kind: ToastKind;
  message: string;
  /** A button offered with the message (e.g. the undo of a delete); clicking it dismisses the toast. */
  action?: { label: string; run: () => void };
}

export const toasts = signal<readonly Toast[]>([]);
let nextId = 1;

export function toast(text: string, kind: ToastKind = 'error', ms = 6_000, action?: Toast['action']): void {
  const message = text.charAt(0).toUpperCase() + text.slice(1);
  // The same message twice in a row (e.g. a retried action) shows once.
  if (toasts.peek().some((t) => t.message === message && t.kind === kind)) return;
  const id = nextId++;
  toasts.value = [...toasts.peek(), { id, kind, message, ...(action ? { action } : {}) }].slice(-4);
  setTimeout(() => dismiss(id), ms);
}

export function dismiss(id: number): void {
  toasts.value = toasts.peek().filter((t) => t.id !== id);
}

export function errorMessage(err: unknown): string {
  const message = err instanceof Error && err.message ? err.message : 'Something went wrong.';
  return message.charAt(0).toUpperCase() + message.slice(1);
}

/** A live reader's failure as a toast; not an eviction: the person hears of losing access by the
 * event that took it (removed from the org or the project), told on its own. */
export function toastReaderError(error: { message: string; source: string }): void {
  if (error.source !== 'evicted') toast(error.message);
}
