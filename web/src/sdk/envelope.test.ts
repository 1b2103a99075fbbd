import { describe, expect, it } from 'vitest';
import { normalizeEnvelope } from './envelope';

const base = {
  event: 'org.member.updated',
  version: 1,
  seq: 7,
  room: 'org:org_1',
  data: { organizationId: 'org_1', member: { userId: 'u_1', name: 'Jane', email: 'j@x', role: 'Admin', status: 'active', avatarUrl: null } },
  meta: { emittedAt: '2026-01-01T00:00:00.000Z', producer: 'server', traceId: 't', actorId: 'u_2' },
};

describe('normalizeEnvelope', () => {
  it('accepts a current envelope', () => {
    const result = normalizeEnvelope(base);
    expect(result.kind).toBe('ok');
    if (result.kind === 'ok') expect(result.envelope.seq).toBe(7);
  });

  it('accepts a minor version bump and numeric strings', () => {
    const result = normalizeEnvelope({ ...base, version: 1.3, seq: '8' });
    expect(result.kind).toBe('ok');
    if (result.kind === 'ok') expect(result.envelope.seq).toBe(8);
  });

  it('gates an unknown major version', () => {
    expect(normalizeEnvelope({ ...base, version: 2 }).kind).toBe('unknown-version');
  });

  it('reports unknown events and malformed envelopes', () => {
    expect(normalizeEnvelope({ ...base, event: 'org.member.exploded' })).toEqual({ kind: 'unknown-event', event: 'org.member.exploded' });
    expect(normalizeEnvelope(null).kind).toBe('invalid');
    expect(normalizeEnvelope({ ...base, data: 3 }).kind).toBe('invalid');
    expect(normalizeEnvelope({ ...base, room: undefined }).kind).toBe('invalid');
  });

  it('uses the socket event name when the payload lacks one, and fills meta', () => {
    const { event: _event, meta: _meta, ...rest } = base;
    const result = normalizeEnvelope(rest, 'org.member.updated');
    expect(result.kind).toBe('ok');
    if (result.kind === 'ok') expect(result.envelope.meta).toMatchObject({ producer: 'server', actorId: null });
  });

  it('strips seq from ephemeral events so they never go through dedup', () => {
    const result = normalizeEnvelope({
      event: 'org.member.presence',
      version: 1,
      seq: 99,
      room: 'org:org_1',
      data: { organizationId: 'org_1', userId: 'u_1', online: true, lastActiveAt: null },
      meta: {},
    });
    expect(result.kind).toBe('ok');
    if (result.kind === 'ok') expect(result.envelope.seq).toBeUndefined();
  });

  it('takes the room of resync.required from its data', () => {
    const result = normalizeEnvelope({ event: 'resync.required', version: 1, data: { room: 'org:org_1', reason: 'pruned' }, meta: {} });
    expect(result.kind === 'ok' && result.envelope.room).toBe('org:org_1');
  });
});
