// The real socket.io-client transport against a real Socket.IO server in this process,
// speaking the gateway's contract: auth token, subscribe with replay before the ack,
// connect_error 'unauthorized', and a server restart.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TandemClient } from './client';
import type { AnyEnvelope } from './envelope';
import { memoryStorage } from './tokens';
import { socketIoFactory } from './transport';

interface Running {
  io: Server;
  http: HttpServer;
  port: number;
}

const log: Array<Record<string, unknown>> = [];
const subscribes: Array<{ room: string; after?: number }> = [];
let acceptTokens = true;
let running: Running | null = null;
let client: TandemClient | null = null;

function envelope(seq: number, name: string) {
  return {
    event: 'org.member.updated',
    version: 1,
    seq,
    room: 'org:o1',
    data: { organizationId: 'o1', member: { userId: 'u_b', name, email: 'b@x', role: 'Member', status: 'active', avatarUrl: null } },
    meta: { emittedAt: new Date().toISOString(), producer: 'server', traceId: 't', actorId: 'u_a' },
  };
}

async function startServer(port = 0): Promise<Running> {
  const http = createServer();
  const io = new Server(http, { path: '/socket.io', transports: ['websocket'] });
  io.use((socket, next) => {
    const token = (socket.handshake.auth as { token?: string }).token;
    if (!acceptTokens || !token?.startsWith('st_')) return next(new Error('unauthorized'));
    next();
  });
  io.on('connection', (socket) => {
    void socket.join('user:u_a');
    socket.on('subscribe', (payload: { room: string; after?: number }, ack: (r: unknown) => void) => {
      subscribes.push(payload);
      void socket.join(payload.room);
      const replay = log.filter((e) => e.room === payload.room && (e.seq as number) > (payload.after ?? Infinity));
      for (const e of replay) socket.emit(e.event as string, e);
      ack({ ok: true, room: payload.room, seq: log.length, replayed: replay.length });
    });
  });
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  return { io, http, port: (http.address() as AddressInfo).port };
}

function publish(name: string) {
  const e = envelope(log.length + 1, name);
  log.push(e);
  running!.io.to(e.room).emit(e.event, e);
}

let tokenCount = 0;
const fetchStub: typeof fetch = async (input) => {
  const path = String(input);
  if (path.endsWith('/api/auth/socket-token'))
    return Response.json({ token: `st_${++tokenCount}`, expiresAt: new Date(Date.now() + 300_000).toISOString() });
  return Response.json({ flags: {} });
};

function makeClient(port: number): TandemClient {
  const storage = memoryStorage();
  storage.setItem('tandem.accessToken', 'a');
  storage.setItem('tandem.refreshToken', 'r');
  return new TandemClient({
    baseUrl: `http://127.0.0.1:${port}`,
    socketUrl: `http://127.0.0.1:${port}`,
    socketFactory: socketIoFactory,
    fetch: fetchStub,
    storage,
    scheduler: (flush) => void setTimeout(flush, 0),
    fallbackAfterMs: 5_000,
  });
}

afterEach(async () => {
  client?.stop();
  client = null;
  if (running) {
    running.io.close();
    running = null;
  }
  log.length = 0;
  subscribes.length = 0;
  acceptTokens = true;
});

describe('socket.io transport', () => {
  it('connects, replays before the ack, delivers live events, and resumes after a server restart', async () => {
    running = await startServer();
    publish('one');
    publish('two');
    client = makeClient(running.port);
    const applied: AnyEnvelope[] = [];
    client.start('u_a');
    client.subscribe('org:o1', { load: async () => 1, apply: (events) => applied.push(...events) });
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'));
    await vi.waitFor(() => expect(applied.map((e) => e.seq)).toEqual([2]));
    publish('three');
    await vi.waitFor(() => expect(applied.map((e) => e.seq)).toEqual([2, 3]));

    const port = running.port;
    running.io.close();
    await vi.waitFor(() => expect(client!.connection.state.value).not.toBe('live'));
    log.push(envelope(4, 'four')); // committed while the server was away
    running = await startServer(port);
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'), { timeout: 8_000 });
    await vi.waitFor(() => expect(applied.map((e) => e.seq)).toEqual([2, 3, 4]));
    expect(subscribes.at(-1)).toEqual({ room: 'org:o1', after: 3 });
  }, 15_000);

  it('reports an unauthorized handshake and recovers when tokens are accepted again', async () => {
    running = await startServer();
    acceptTokens = false;
    client = makeClient(running.port);
    client.start('u_a');
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('offline-polling'));
    const tokensBefore = tokenCount;
    acceptTokens = true;
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'), { timeout: 5_000 });
    expect(tokenCount).toBeGreaterThan(tokensBefore);
  }, 10_000);
});
