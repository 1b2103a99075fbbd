// An in-memory Tandem server for SDK tests: the REST endpoints the SDK calls, a durable
// event log with one global seq, and fake sockets that join rooms, replay and ack in
// order, drop, and reconnect by themselves like socket.io-client.
import { DURABLE_EVENTS, orgRoom, userRoom, type EventName } from '../events.gen';
import type { LatencySample } from '../latency';
import type { MemberRow } from '../reducers/members';
import type { SocketAuth, SocketFactory, SocketLike } from '../transport';

export interface FakeEnvelope {
  event: string;
  version: number;
  seq?: number;
  room: string;
  data: Record<string, unknown>;
  meta: { emittedAt: string; producer: string; traceId: string; actorId: string | null };
}

type Ack = (response: unknown) => void;

const durable = new Set<string>(DURABLE_EVENTS);

export class FakeServer {
  seq = 0;
  log: FakeEnvelope[] = [];
  up = true;
  /** The page cannot open a WebSocket (REST still works). */
  blockWebsocket = false;
  /** Connection attempts hang: no connect, no connect_error (a proxy swallowing the upgrade). */
  hangConnects = false;
  /** Socket tokens are refused with connect_error 'unauthorized'. */
  rejectSocketTokens = false;
  /** The next connects are refused as a shedding server does: `rate_limited`, with `retryAfterMs`. */
  shedConnects: { count: number; retryAfterMs: number } | null = null;
  /** When each connect attempt reached the server (ms since the epoch). */
  readonly attempts: number[] = [];
  /** Replays from before this seq are impossible: the client gets resync.required. */
  prunedThrough = 0;
  reconnectDelayMs = 10;
  pollHoldMs = 100;
  tokenTtlMs = 5 * 60_000;
  readonly userId = 'u_me';
  readonly sockets = new Set<FakeSocket>();
  readonly subscribes: Array<{ room: string; after?: number }> = [];
  readonly requests: string[] = [];
  readonly latencySamples: LatencySample[] = [];
  readonly forbidden = new Set<string>();
  readonly flags = new Map<string, Record<string, boolean>>();
  /** Phases in `soak` (or another state) per org, over `flags`. */
  readonly states = new Map<string, Record<string, 'on' | 'off' | 'soak'>>();
  readonly driftReports: Array<{ orgId: string; body: Record<string, unknown> }> = [];
  /** Answer drift reports with 429 and this Retry-After (seconds) when set. */
  driftRetryAfter: number | null = null;
  readonly members = new Map<string, Map<string, MemberRow>>();
  /** Messages sent by REST, deduplicated by Idempotency-Key. */
  readonly messages: Array<{ key: string; text: string }> = [];
  /** Extra REST endpoints a test adds (the board's): answer, or undefined to fall through. */
  readonly routes: Array<(method: string, path: string, body: unknown) => Response | undefined> = [];
  /** Extra client→server socket events a test handles: their ack. */
  readonly inbound = new Map<string, (payload: unknown) => unknown>();
  readonly received: Array<{ event: string; payload: unknown }> = [];
  tokensIssued = 0;
  connects = 0;
  snapshotLoads = 0;
  private readonly validTokens = new Set<string>();
  private readonly waiters = new Set<() => void>();

  readonly socketFactory: SocketFactory = ({ auth }) => new FakeSocket(this, auth);

  addOrg(orgId: string, members: MemberRow[]): void {
    this.members.set(orgId, new Map(members.map((m) => [m.userId, { ...m }])));
  }

  count(prefix: string): number {
    return this.requests.filter((r) => r.startsWith(prefix)).length;
  }

  /** Records (when durable) and delivers one event to one or more rooms, with one seq. */
  emit(rooms: string | string[], event: EventName | string, data: Record<string, unknown>, version = 1): FakeEnvelope[] {
    const seq = durable.has(event) ? ++this.seq : undefined;
    const meta = { emittedAt: new Date().toISOString(), producer: 'server', traceId: `tr_${this.seq}`, actorId: 'u_admin' };
    const envelopes = (Array.isArray(rooms) ? rooms : [rooms]).map((room) => {
      const envelope: FakeEnvelope = { event, version, room, data, meta, ...(seq !== undefined ? { seq } : {}) };
      if (seq !== undefined) this.log.push(envelope);
      for (const socket of this.sockets) if (socket.rooms.has(room)) socket.push(event, envelope);
      return envelope;
    });
    for (const wake of [...this.waiters]) wake();
    return envelopes;
  }

  updateMember(orgId: string, userId: string, changes: Partial<MemberRow>, version = 1): void {
    const member = { ...this.members.get(orgId)!.get(userId)!, ...changes };
    this.members.get(orgId)!.set(userId, member);
    const { online: _online, lastActiveAt: _last, ...contract } = member;
    this.emit(orgRoom(orgId), 'org.member.updated', { organizationId: orgId, member: contract }, version);
  }

  setPresence(orgId: string, userId: string, online: boolean): void {
    const lastActiveAt = new Date().toISOString();
    const member = this.members.get(orgId)!.get(userId)!;
    this.members.get(orgId)!.set(userId, { ...member, online, lastActiveAt });
    this.emit(orgRoom(orgId), 'org.member.presence', { organizationId: orgId, userId, online, lastActiveAt });
  }

  removeMember(orgId: string, userId: string): void {
    this.members.get(orgId)!.delete(userId);
    this.emit([orgRoom(orgId), userRoom(userId)], 'org.member.removed', { organizationId: orgId, userId, removedBy: 'u_admin' });
  }

  sendResync(room: string, reason = 'pruned'): void {
    for (const socket of this.sockets) if (socket.rooms.has(room)) socket.push('resync.required', this.resyncEnvelope(room, reason));
  }

  /** Takes every socket out of the room, as the server does when its person loses access. */
  evict(room: string): void {
    for (const socket of this.sockets) {
      if (!socket.rooms.delete(room)) continue;
      socket.push('room.evicted', { event: 'room.evicted', version: 1, room, data: { room, reason: 'access' }, meta: { emittedAt: new Date().toISOString(), producer: 'server', traceId: 't', actorId: null } });
    }
  }

  /** Every socket loses its connection (they reconnect by themselves). */
  dropSockets(reason = 'transport close'): void {
    for (const socket of [...this.sockets]) socket.serverDrop(reason);
  }

  stop(): void {
    this.up = false;
    this.dropSockets();
  }

  start(): void {
    this.up = true;
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input), 'http://fake.test');
    const method = init?.method ?? 'GET';
    this.requests.push(`${method} ${url.pathname}${url.search}`);
    if (!this.up) throw new TypeError('fetch failed');
    const headers = new Headers(init?.headers);
    if (headers.get('Authorization') !== 'Bearer access-1') return json(401, { error: { code: 'unauthorized', message: 'Log in again.' } });
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    const path = url.pathname;
    let match: RegExpMatchArray | null;
    if (method === 'POST' && path === '/api/auth/socket-token') {
      const token = `st_${++this.tokensIssued}`;
      this.validTokens.add(token);
      return json(200, { token, expiresAt: new Date(Date.now() + this.tokenTtlMs).toISOString() });
    }
    if (method === 'POST' && path === '/api/telemetry/latency') {
      this.latencySamples.push(...body.samples);
      return new Response(null, { status: 204 });
    }
    if (method === 'GET' && (match = path.match(/^\/api\/orgs\/([^/]+)\/members$/))) {
      const org = this.members.get(match[1]);
      if (!org) return json(404, { error: { code: 'not_found', message: 'Not found.' } });
      this.snapshotLoads += 1;
      return json(200, { members: [...org.values()].map((m) => ({ ...m })), cursor: this.seq });
    }
    if (method === 'GET' && (match = path.match(/^\/api\/orgs\/([^/]+)\/flags$/))) {
      const flags: Record<string, boolean> = { members: true, dashboard: true, kanban: true, task: true, project: true, chat: true, ...this.flags.get(match[1]) };
      const states = Object.fromEntries(Object.entries(flags).map(([phase, on]) => [phase, on ? 'on' : 'off']));
      Object.assign(states, this.states.get(match[1]));
      for (const [phase, state] of Object.entries(states)) flags[phase] = state !== 'off';
      return json(200, { flags, states });
    }
    if (method === 'POST' && (match = path.match(/^\/api\/orgs\/([^/]+)\/realtime\/drift$/))) {
      if (this.driftRetryAfter !== null) {
        return new Response(JSON.stringify({ error: { code: 'rate_limited', message: 'Too many reports.' } }), {
          status: 429,
          headers: { 'Content-Type': 'application/json', 'Retry-After': String(this.driftRetryAfter) },
        });
      }
      this.driftReports.push({ orgId: match[1], body });
      return new Response(null, { status: 204 });
    }
    if (method === 'POST' && /^\/api\/conversations\/[^/]+\/messages$/.test(path)) {
      const key = headers.get('Idempotency-Key') ?? body.clientId;
      if (!this.messages.some((m) => m.key === key)) this.messages.push({ key, text: body.text });
      return json(201, { message: { clientId: key, text: body.text } });
    }
    if (method === 'GET' && path === '/api/events') return this.events(url.searchParams, init?.signal ?? undefined);
    for (const route of this.routes) {
      const answer = route(method, path, body);
      if (answer) return answer;
    }
    return json(404, { error: { code: 'not_found', message: `${method} ${path}` } });
  };

  private async events(params: URLSearchParams, signal?: AbortSignal): Promise<Response> {
    const room = params.get('room') ?? '';
    const after = Number(params.get('after') ?? 0);
    const wait = Number(params.get('wait') ?? 0);
    if (this.forbidden.has(room)) return json(403, { error: { code: 'forbidden', message: 'Forbidden.' } });
    if (after < this.prunedThrough) return json(200, { events: [], cursor: this.seq, resync: true });
    const pending = () => this.log.filter((e) => e.room === room && (e.seq ?? 0) > after);
    if (pending().length === 0 && wait > 0) {
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(wait * 1000, this.pollHoldMs));
        this.waiters.add(done);
        signal?.addEventListener('abort', () => {
          done();
          reject(signal.reason);
        });
      });
    }
    if (!this.up) throw new TypeError('fetch failed');
    return json(200, { events: pending(), cursor: this.seq });
  }

  /** What the gateway does with a client→server event. */
  handle(socket: FakeSocket, event: string, payload: { room: string; after?: number }, ack: Ack): void {
    if (event === 'subscribe') {
      this.subscribes.push({ room: payload.room, after: payload.after });
      if (this.forbidden.has(payload.room)) return socket.ack(ack, { ok: false, error: { code: 'forbidden', message: 'Forbidden.' } });
      socket.rooms.add(payload.room);
      let replayed = 0;
      if (payload.after !== undefined) {
        if (payload.after < this.prunedThrough) socket.push('resync.required', this.resyncEnvelope(payload.room, 'pruned'));
        else
          for (const e of this.log)
            if (e.room === payload.room && (e.seq ?? 0) > payload.after) {
              socket.push(e.event, e);
              replayed += 1;
            }
      }
      const latest = this.log.filter((e) => e.room === payload.room).reduce((max, e) => Math.max(max, e.seq ?? 0), 0);
      return socket.ack(ack, { ok: true, room: payload.room, seq: latest, replayed });
    }
    if (event === 'unsubscribe') {
      socket.rooms.delete(payload.room);
      return socket.ack(ack, { ok: true });
    }
    const handler = this.inbound.get(event);
    if (handler) {
      this.received.push({ event, payload });
      return socket.ack(ack, handler(payload));
    }
    socket.ack(ack, { ok: false, error: { code: 'invalid', message: `unknown event ${event}` } });
  }

  acceptsToken(token: string): boolean {
    return !this.rejectSocketTokens && this.validTokens.has(token);
  }

  private resyncEnvelope(room: string, reason: string): FakeEnvelope {
    return {
      event: 'resync.required',
      version: 1,
      room,
      data: { room, reason },
      meta: { emittedAt: new Date().toISOString(), producer: 'server', traceId: 'tr_resync', actorId: null },
    };
  }
}

export class FakeSocket implements SocketLike {
  connected = false;
  active = false;
  rooms = new Set<string>();
  private readonly listeners = new Map<string, Set<(...args: never[]) => void>>();
  private readonly anyListeners = new Set<(event: string, ...args: unknown[]) => void>();

  constructor(
    private readonly server: FakeServer,
    private readonly auth: SocketAuth,
  ) {}

  connect(): void {
    this.active = true;
    this.attempt();
  }

  disconnect(): void {
    this.active = false;
    if (!this.connected) return;
    this.connected = false;
    this.server.sockets.delete(this);
    this.fire('disconnect', 'io client disconnect');
  }

  on(event: string, listener: (...args: never[]) => void): void {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event)!.add(listener);
  }

  onAny(listener: (event: string, ...args: unknown[]) => void): void {
    this.anyListeners.add(listener);
  }

  emit(event: string, payload: unknown, ack: (response: unknown) => void): void {
    if (!this.connected) return;
    setTimeout(() => {
      if (this.connected) this.server.handle(this, event, payload as { room: string }, ack);
    }, 1);
  }

  /** Server → client, in order with acks (one FIFO of zero-delay timers). */
  push(event: string, envelope: FakeEnvelope): void {
    const copy = structuredClone(envelope);
    setTimeout(() => {
      if (this.connected) for (const listener of this.anyListeners) listener(event, copy);
    }, 0);
  }

  ack(ack: Ack, response: unknown): void {
    setTimeout(() => {
      if (this.connected) ack(response);
    }, 0);
  }

  serverDrop(reason: string): void {
    if (!this.connected) return;
    this.connected = false;
    this.rooms.clear();
    this.server.sockets.delete(this);
    if (reason === 'io server disconnect') this.active = false;
    this.fire('disconnect', reason);
    if (this.active) this.retry();
  }

  private attempt(): void {
    this.auth(({ token }) => {
      setTimeout(() => {
        if (!this.active || this.connected) return;
        if (this.server.hangConnects) return this.retry();
        if (!this.server.up || this.server.blockWebsocket) {
          this.fire('connect_error', new Error('websocket error'));
          return this.retry();
        }
        this.server.attempts.push(Date.now());
        const shed = this.server.shedConnects;
        if (shed && shed.count > 0) {
          shed.count -= 1;
          this.active = false;
          const refusal = Object.assign(new Error('rate_limited'), { data: { code: 'rate_limited', message: 'too many connections', retryAfterMs: shed.retryAfterMs } });
          return this.fire('connect_error', refusal);
        }
        if (!this.server.acceptsToken(token)) {
          // Refused by the server: socket.io-client stops retrying by itself.
          this.active = false;
          return this.fire('connect_error', new Error('unauthorized'));
        }
        this.connected = true;
        this.rooms = new Set([userRoom(this.server.userId)]);
        this.server.sockets.add(this);
        this.server.connects += 1;
        this.fire('connect');
      }, 1);
    });
  }

  private retry(): void {
    setTimeout(() => {
      if (this.active && !this.connected) this.attempt();
    }, this.server.reconnectDelayMs);
  }

  private fire(event: string, ...args: unknown[]): void {
    for (const listener of this.listeners.get(event) ?? []) (listener as (...a: unknown[]) => void)(...args);
  }
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

export function member(userId: string, overrides: Partial<MemberRow> = {}): MemberRow {
  return {
    userId,
    name: userId.replace('u_', '').replace(/^./, (c) => c.toUpperCase()),
    email: `${userId.replace('u_', '')}@example.com`,
    role: 'Member',
    status: 'active',
    avatarUrl: null,
    online: false,
    lastActiveAt: null,
    ...overrides,
  } as MemberRow;
}
