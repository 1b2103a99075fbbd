import { signal, type ReadonlySignal } from '@preact/signals';
import { ApiError, backoff } from './errors';
import type { SocketTokenSource } from './socket-token';
import type { SocketFactory, SocketLike } from './transport';

/**
 * `connecting`: first attempt; `live`: the socket is up; `reconnecting`: it dropped and
 * Socket.IO is retrying; `offline-polling`: it cannot connect, so rooms are fed by
 * /api/events long-polling while Socket.IO keeps retrying in the background.
 */
export type ConnectionState = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'offline-polling';

export interface ConnectionOptions {
  factory: SocketFactory;
  tokens: SocketTokenSource;
  url: string;
  path?: string;
  /** How long a dropped socket may stay down before rooms fall back to polling. */
  fallbackAfterMs?: number;
}

export interface Ack {
  ok: boolean;
  error?: { code: string; message: string; retryAfterMs?: number };
  [key: string]: unknown;
}

type EventListener = (event: string, payload: unknown) => void;

export class Connection {
  private readonly _state = signal<ConnectionState>('idle');
  readonly state: ReadonlySignal<ConnectionState> = this._state;
  private socket: SocketLike | null = null;
  private readonly connectListeners = new Set<() => void>();
  private readonly eventListeners = new Set<EventListener>();
  private fallbackTimer: ReturnType<typeof setTimeout> | null = null;
  private manualTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly manualDelays = backoff(1_000, 15_000);
  private readonly onOnline = () => this.nudge();
  /** Rejecters of requests waiting for an ack: a disconnect fails them at once. */
  private readonly pending = new Set<(error: ApiError) => void>();

  constructor(private readonly opts: ConnectionOptions) {}

  get live(): boolean {
    return this._state.value === 'live';
  }

  start(): void {
    if (this.socket) return;
    this.opts.tokens.start();
    this._state.value = 'connecting';
    const socket = this.opts.factory({
      url: this.opts.url,
      path: this.opts.path ?? '/socket.io',
      auth: (cb) => {
        // Socket.IO waits for this callback: on a failed token fetch still let the
        // attempt proceed (it fails and backs off) rather than hang.
        this.opts.tokens.get().then(
          (token) => cb({ token }),
          () => cb({ token: '' }),
        );
      },
    });
    socket.on('connect', () => this.handleConnect());
    socket.on('disconnect', (reason) => this.handleDisconnect(reason));
    socket.on('connect_error', (error) => this.handleConnectError(error));
    socket.onAny((event, payload) => {
      for (const listener of this.eventListeners) listener(event, payload);
    });
    this.socket = socket;
    globalThis.addEventListener?.('online', this.onOnline);
    // Some failures never surface as connect_error (a proxy that swallows the upgrade,
    // a WebSocket that cannot even be constructed): fall back on a timer as well.
    this.armFallback();
    socket.connect();
  }

  stop(): void {
    globalThis.removeEventListener?.('online', this.onOnline);
    this.clearTimers();
    this.opts.tokens.stop();
    const socket = this.socket;
    this.socket = null;
    socket?.disconnect();
    this._state.value = 'idle';
  }

  /** Runs after every successful (re)connect; returns an unsubscribe function. */
  onConnect(listener: () => void): () => void {
    this.connectListeners.add(listener);
    return () => this.connectListeners.delete(listener);
  }

  onEvent(listener: EventListener): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Emits with an acknowledgement; rejects with a transient ApiError when offline or on timeout. */
  request(event: string, payload: unknown, timeoutMs = 10_000): Promise<Ack> {
    const socket = this.socket;
    if (!socket || !socket.connected) return Promise.reject(new ApiError(0, 'network', 'Not connected.'));
    return new Promise((resolve, reject) => {
      const fail = (error: ApiError) => {
        clearTimeout(timer);
        this.pending.delete(fail);
        reject(error);
      };
      const timer = setTimeout(() => fail(new ApiError(0, 'timeout', `${event}: no acknowledgement`)), timeoutMs);
      this.pending.add(fail);
      socket.emit(event, payload, (response) => {
        clearTimeout(timer);
        this.pending.delete(fail);
        resolve(normalizeAck(response));
      });
    });
  }

  private handleConnect(): void {
    this.clearTimers();
    this.manualDelays.reset();
    this._state.value = 'live';
    for (const listener of this.connectListeners) listener();
  }

  private handleDisconnect(reason: string): void {
    for (const fail of [...this.pending]) fail(new ApiError(0, 'network', 'Disconnected.'));
    if (!this.socket) return;
    if (this._state.value !== 'offline-polling') this._state.value = 'reconnecting';
    this.armFallback();
    // The server closed the socket on purpose: Socket.IO will not retry by itself.
    if (reason === 'io server disconnect') this.scheduleManualReconnect();
  }

  private handleConnectError(error: Error): void {
    if (!this.socket) return;
    if (error.message === 'unauthorized') this.opts.tokens.invalidate();
    if (this._state.value === 'connecting') this.goPolling();
    else this.armFallback();
    // A refusal by the server (not a network failure) ends Socket.IO's own retries. One that
    // says when to come back (`rate_limited`, when the server sheds connects) is not tried sooner.
    const hint = (error as Error & { data?: { retryAfterMs?: unknown } }).data?.retryAfterMs;
    if (!this.socket.active) this.scheduleManualReconnect(typeof hint === 'number' && hint > 0 ? hint : 0);
  }

  private armFallback(): void {
    if (this.fallbackTimer || this._state.value === 'offline-polling') return;
    this.fallbackTimer = setTimeout(() => {
      this.fallbackTimer = null;
      if (this.socket && !this.socket.connected) this.goPolling();
    }, this.opts.fallbackAfterMs ?? 3_000);
  }

  private goPolling(): void {
    if (this.fallbackTimer) clearTimeout(this.fallbackTimer);
    this.fallbackTimer = null;
    this._state.value = 'offline-polling';
  }

  private scheduleManualReconnect(atLeastMs = 0): void {
    if (this.manualTimer) return;
    this.manualTimer = setTimeout(
      () => {
        this.manualTimer = null;
        if (this.socket && !this.socket.connected && !this.socket.active) this.socket.connect();
      },
      Math.max(atLeastMs, this.manualDelays.next()),
    );
  }

  private nudge(): void {
    if (this.socket && !this.socket.connected && !this.socket.active) this.socket.connect();
  }

  private clearTimers(): void {
    if (this.fallbackTimer) clearTimeout(this.fallbackTimer);
    if (this.manualTimer) clearTimeout(this.manualTimer);
    this.fallbackTimer = null;
    this.manualTimer = null;
  }
}

function normalizeAck(response: unknown): Ack {
  if (typeof response === 'object' && response !== null && 'ok' in response) return response as Ack;
  return { ok: false, error: { code: 'invalid', message: 'Malformed acknowledgement.' } };
}
