import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TandemClient } from './client';
import { clientFor } from './testing/client';
import { FakeServer } from './testing/fake-server';

let client: TandemClient | null = null;
afterEach(() => {
  client?.stop();
  client = null;
});

describe('connection', () => {
  it('goes connecting → live with a socket token from /api/auth/socket-token', async () => {
    const server = new FakeServer();
    client = clientFor(server);
    const states: string[] = [];
    client.connection.state.subscribe((s) => states.push(s));
    client.start('u_me');
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'));
    expect(states).toEqual(['idle', 'connecting', 'live']);
    expect(server.count('POST /api/auth/socket-token')).toBe(1);
  });

  it('shows reconnecting when the socket drops, then offline-polling if it stays down, then live again', async () => {
    const server = new FakeServer();
    client = clientFor(server, { fallbackAfterMs: 80 });
    client.start('u_me');
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'));
    server.blockWebsocket = true;
    server.dropSockets();
    expect(client.connection.state.value).toBe('reconnecting');
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('offline-polling'));
    server.blockWebsocket = false;
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'));
  });

  it('stays live through a short blip without falling back', async () => {
    const server = new FakeServer();
    client = clientFor(server, { fallbackAfterMs: 500 });
    const states: string[] = [];
    client.connection.state.subscribe((s) => states.push(s));
    client.start('u_me');
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'));
    server.dropSockets();
    await vi.waitFor(() => expect(server.connects).toBe(2));
    expect(states).toEqual(['idle', 'connecting', 'live', 'reconnecting', 'live']);
  });

  it('falls back to polling when connecting hangs without ever failing, and goes live once it works', async () => {
    const server = new FakeServer();
    server.hangConnects = true;
    client = clientFor(server, { fallbackAfterMs: 80 });
    client.start('u_me');
    expect(client.connection.state.value).toBe('connecting');
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('offline-polling'));
    server.hangConnects = false;
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'));
  });

  it('fetches a fresh token after an unauthorized refusal and reconnects by itself', async () => {
    const server = new FakeServer();
    server.rejectSocketTokens = true;
    client = clientFor(server);
    client.start('u_me');
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('offline-polling'));
    server.rejectSocketTokens = false;
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'), { timeout: 4000 });
    expect(server.count('POST /api/auth/socket-token')).toBeGreaterThanOrEqual(2);
  });

  it('waits as long as a shedding server asks before it connects again', async () => {
    const server = new FakeServer();
    server.shedConnects = { count: 1, retryAfterMs: 1_500 };
    client = clientFor(server);
    client.start('u_me');
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'), { timeout: 4000 });
    expect(server.attempts).toHaveLength(2);
    // the SDK's own first delay is at most 1 s: only the server's hint explains the wait
    expect(server.attempts[1] - server.attempts[0]).toBeGreaterThanOrEqual(1_450);
  });

  it('reconnects by itself after the server closed the socket on purpose', async () => {
    const server = new FakeServer();
    client = clientFor(server);
    client.start('u_me');
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'));
    server.dropSockets('io server disconnect');
    await vi.waitFor(() => expect(server.connects).toBe(2), { timeout: 4000 });
    expect(client.connection.state.value).toBe('live');
  });

  it('renews the socket token before it expires, so a reconnect never presents a stale one', async () => {
    const server = new FakeServer();
    server.tokenTtlMs = 61_200; // renewed 60 s before expiry: after ~1.2 s
    client = clientFor(server);
    client.start('u_me');
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'));
    expect(server.tokensIssued).toBe(1);
    await vi.waitFor(() => expect(server.tokensIssued).toBe(2), { timeout: 3000 });
  });

  it('fails pending acks at once when the socket drops', async () => {
    const server = new FakeServer();
    client = clientFor(server);
    client.start('u_me');
    await vi.waitFor(() => expect(client!.connection.state.value).toBe('live'));
    const pending = client.connection.request('subscribe', { room: 'org:x' });
    server.dropSockets();
    await expect(pending).rejects.toMatchObject({ code: 'network' });
  });
});
