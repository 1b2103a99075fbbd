import type { components } from './api.gen';
import { ApiError, withRetry } from './errors';
import type { TokenPair, TokenStore } from './tokens';

export interface HttpOptions {
  tokens: TokenStore;
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Called once the refresh token is refused: the person must log in again. */
  onUnauthenticated?: () => void;
}

export interface RequestOptions {
  body?: unknown;
  /** Send the access token (default true). */
  auth?: boolean;
  signal?: AbortSignal;
  /** Quietly retry transient failures; default: GET requests and requests with an idempotency key. */
  retry?: boolean;
  idempotencyKey?: string;
  /** Let the request outlive the page (fetch `keepalive`): for a last report as the page is hidden or closed. */
  keepalive?: boolean;
}

/** JSON over fetch: bearer auth, one refresh-and-retry on 401, typed errors, quiet retries. */
export class Http {
  private readonly fetchImpl: typeof fetch;
  private readonly baseUrl: string;
  private refreshing: Promise<boolean> | null = null;

  constructor(private readonly opts: HttpOptions) {
    this.fetchImpl = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.baseUrl = opts.baseUrl ?? '';
  }

  get tokens(): TokenStore {
    return this.opts.tokens;
  }

  get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', path, options);
  }

  post<T>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('POST', path, { ...options, body });
  }

  patch<T>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('PATCH', path, { ...options, body });
  }

  delete<T = void>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('DELETE', path, options);
  }

  request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const retry = options.retry ?? (method === 'GET' || options.idempotencyKey !== undefined);
    const once = () => this.authorized<T>(method, path, options);
    return retry ? withRetry(once, { signal: options.signal }) : once();
  }

  private async authorized<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    const auth = options.auth ?? true;
    const usedToken = auth ? this.tokens.access : null;
    try {
      return await this.send<T>(method, path, options, usedToken);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401 || !auth || !this.tokens.refresh) throw err;
      if (!(await this.refreshAfter(usedToken))) {
        this.tokens.clear();
        this.opts.onUnauthenticated?.();
        throw err;
      }
      return this.send<T>(method, path, options, this.tokens.access);
    }
  }

  private async send<T>(method: string, path: string, options: RequestOptions, token: string | null): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    let response: Response;
    try {
      response = await this.fetchImpl(this.baseUrl + path, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: options.signal,
        ...(options.keepalive ? { keepalive: true } : {}),
      });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw new ApiError(0, 'network', 'The server cannot be reached.');
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    if (!response.ok) throw errorFrom(response, body);
    return body as T;
  }

  /**
   * Refreshes the tokens once, shared by every request that got a 401 with the same
   * access token. Another tab may already have rotated them, so the shared storage is
   * re-read under a cross-tab lock before spending the refresh token.
   */
  private refreshAfter(usedToken: string | null): Promise<boolean> {
    if (this.tokens.access && this.tokens.access !== usedToken) return Promise.resolve(true);
    if (!this.refreshing) {
      this.refreshing = withCrossTabLock('tandem-auth-refresh', () => this.doRefresh(usedToken)).finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(usedToken: string | null): Promise<boolean> {
    this.tokens.reload();
    if (this.tokens.access && this.tokens.access !== usedToken) return true;
    const refreshToken = this.tokens.refresh;
    if (!refreshToken) return false;
    try {
      const body = { refreshToken } satisfies components['schemas']['RefreshIn'];
      const pair = await withRetry(() => this.send<TokenPair>('POST', '/api/auth/refresh', { body }, null));
      this.tokens.set(pair);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) return false;
      // Server unreachable: keep the tokens, the caller sees the transient error.
      throw err;
    }
  }
}

function errorFrom(response: Response, body: unknown): ApiError {
  const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
  const retryAfter = response.headers.get('Retry-After');
  const retryAfterMs = retryAfter && !Number.isNaN(Number(retryAfter)) ? Number(retryAfter) * 1000 : undefined;
  return new ApiError(
    response.status,
    error?.code ?? `http_${response.status}`,
    error?.message ?? (response.statusText || `Request failed (${response.status})`),
    retryAfterMs,
  );
}

function withCrossTabLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  return locks ? (locks.request(name, fn) as Promise<T>) : fn();
}
