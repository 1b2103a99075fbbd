import { DURABLE_EVENTS, EVENT_VERSIONS, type Envelope, type EventMeta, type EventName } from './events.gen';

/** An envelope whose `event` and `data` are narrowed together (a discriminated union). */
export type AnyEnvelope = { [K in EventName]: Envelope<K> }[EventName];

export type Normalized =
  | { kind: 'ok'; envelope: AnyEnvelope }
  /** A major version this client was not built for: refresh over REST instead of applying. */
  | { kind: 'unknown-version'; envelope: AnyEnvelope }
  | { kind: 'unknown-event'; event: string }
  | { kind: 'invalid'; reason: string };

const durable: ReadonlySet<string> = new Set(DURABLE_EVENTS);

export function isKnownEvent(name: string): name is EventName {
  return Object.prototype.hasOwnProperty.call(EVENT_VERSIONS, name);
}

export function isDurable(name: string): boolean {
  return durable.has(name);
}

export function majorVersion(version: number): number {
  return Math.floor(version);
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks and normalizes one envelope as received from the socket or from /api/events.
 * `socketEvent` is the Socket.IO event name, used when the payload lacks `event`.
 */
export function normalizeEnvelope(raw: unknown, socketEvent?: string): Normalized {
  if (!isObject(raw)) return { kind: 'invalid', reason: 'envelope is not an object' };
  const event = typeof raw.event === 'string' ? raw.event : socketEvent;
  if (!event) return { kind: 'invalid', reason: 'envelope has no event name' };
  if (!isKnownEvent(event)) return { kind: 'unknown-event', event };
  if (!isObject(raw.data)) return { kind: 'invalid', reason: `${event}: data is not an object` };

  const rawMeta = isObject(raw.meta) ? raw.meta : {};
  const meta: EventMeta = {
    ...(rawMeta as Partial<EventMeta>),
    emittedAt: typeof rawMeta.emittedAt === 'string' ? rawMeta.emittedAt : '',
    producer: typeof rawMeta.producer === 'string' ? rawMeta.producer : 'server',
    traceId: typeof rawMeta.traceId === 'string' ? rawMeta.traceId : '',
    actorId: typeof rawMeta.actorId === 'string' ? rawMeta.actorId : null,
  } as EventMeta;

  const data = raw.data as Record<string, unknown>;
  let room = typeof raw.room === 'string' ? raw.room : '';
  if (!room && event === 'resync.required' && typeof data.room === 'string') room = data.room;
  if (!room) return { kind: 'invalid', reason: `${event}: envelope has no room` };

  const version = asNumber(raw.version) ?? asNumber(rawMeta.version) ?? 1;
  // Ephemeral events never carry a usable seq: they must bypass dedup.
  const seq = isDurable(event) ? asNumber(raw.seq) : undefined;

  const envelope = { event, version, room, data, meta, ...(seq !== undefined ? { seq } : {}) } as unknown as AnyEnvelope;
  if (majorVersion(version) !== EVENT_VERSIONS[event]) return { kind: 'unknown-version', envelope };
  return { kind: 'ok', envelope };
}
