// Errors the SDK surfaces, which of them are worth a quiet retry, and the global
// error event the app turns into toasts.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A failure that may go away by itself: network, server restart, rate limit, timeout. */
export function isTransient(err: unknown): boolean {
  if (err instanceof ApiError) {
    return (
      err.status === 0 ||
      err.status === 429 ||
      err.status >= 500 ||
      err.code === 'rate_limited' ||
      err.code === 'internal' ||
      err.code === 'timeout' ||
      err.code === 'network'
    );
  }
  // fetch rejects with a TypeError when the server cannot be reached.
  return err instanceof TypeError;
}

export interface SdkError {
  code: string;
  message: string;
  /** Which part of the SDK or which action failed, e.g. 'subscribe', 'queue'. */
  source: string;
}

type Listener = (err: SdkError) => void;

/** The global error event: one listener (the toasts) hears every error the user should see. */
export class ErrorBus {
  private listeners = new Set<Listener>();

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(err: SdkError): void {
    for (const listener of this.listeners) listener(err);
  }

  report(err: unknown, source: string): void {
    if (err instanceof ApiError) this.emit({ code: err.code, message: err.message, source });
    else if (err instanceof Error) this.emit({ code: 'error', message: err.message, source });
    else this.emit({ code: 'error', message: String(err), source });
  }
}

export interface Backoff {
  /** Delay before the next attempt, growing exponentially with jitter. */
  next(err?: unknown): number;
  reset(): void;
}

export function backoff(baseMs = 500, maxMs = 15_000, random: () => number = Math.random): Backoff {
  let attempt = 0;
  return {
    next(err?: unknown) {
      const exp = Math.min(maxMs, baseMs * 2 ** attempt);
      attempt += 1;
      const jittered = exp / 2 + random() * (exp / 2);
      const serverHint = err instanceof ApiError ? (err.retryAfterMs ?? 0) : 0;
      return Math.max(serverHint, Math.round(jittered));
    },
    reset() {
      attempt = 0;
    },
  };
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Runs `fn` and retries it quietly while it fails transiently, up to `attempts` times;
 * a permanent error (or the last transient one) is thrown to the caller.
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  { attempts = 4, baseMs = 300, maxMs = 5_000, signal }: { attempts?: number; baseMs?: number; maxMs?: number; signal?: AbortSignal } = {},
): Promise<T> {
  const delays = backoff(baseMs, maxMs);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !isTransient(err) || signal?.aborted) throw err;
      await sleep(delays.next(err), signal);
    }
  }
}
