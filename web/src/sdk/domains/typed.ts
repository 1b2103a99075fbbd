import { effect } from '@preact/signals';
import type { AnyEnvelope } from '../envelope';
import { ApiError, type SdkError } from '../errors';
import type { Envelope, EventMap, EventName } from '../events.gen';
import type { FlagWatcher, Phase } from '../flags';
import type { Soak } from '../soak';
import type { RoomHandlers, SubscribeOptions, Subscription } from '../subscriptions';
import type { SoakVerifier, VerifySource } from '../verify';

/** The event names of one domain, taken from the generated map (never listed by hand). */
export type EventsOf<Prefix extends string> = Extract<EventName, `${Prefix}${string}`>;

export type EventHandlers<N extends EventName> = {
  [K in N]?: (data: EventMap[K], envelope: Envelope<K>) => void;
};

export interface RoomClient {
  subscribe(room: string, handlers: RoomHandlers, options?: SubscribeOptions): Subscription;
  readonly flags: FlagWatcher;
  /** Soak verification and the debug switches; absent in clients that need neither. */
  readonly soak?: Soak;
  /** Where each snapshot's outcome counts toward its organization's error rate. */
  readonly latency?: { outcome(orgId: string, phase: Phase, failed: boolean): void };
}

export interface TypedSubscribeOptions<N extends EventName> {
  /** Fetch the snapshot into the store; return its cursor. */
  load(signal: AbortSignal): Promise<number>;
  /** Per-event handlers, typed by the generated contract. */
  on?: EventHandlers<N>;
  /** Or one handler for the whole burst (e.g. a shared reducer). */
  apply?: (events: Array<Envelope<N>>) => void;
  onError?: (error: SdkError) => void;
  /** The snapshot holds ephemeral state (presence): reload it after every (re)join. */
  ephemeral?: boolean;
  /** While the phase soaks: how to fetch a snapshot to compare, and the live state to compare it with. */
  verify?: VerifySource;
}

/**
 * Subscribes to a room whose events all belong to the domain `N`, behind the phase
 * flag of `orgId` (when known): with the phase off, the room is polled; in soak, its live
 * state is verified against fresh snapshots (`verify`, see verify.ts).
 */
export function subscribeTyped<N extends EventName>(
  client: RoomClient,
  room: string,
  options: TypedSubscribeOptions<N>,
  flag?: { orgId: string; phase: Phase },
): Subscription {
  const watched = flag ? client.flags.watch(flag.orgId, flag.phase) : null;
  let verifier: SoakVerifier | null = null;
  const subscription = client.subscribe(
    room,
    {
      load: flag && client.latency ? counted(options.load, client.latency, flag) : options.load,
      onError: options.onError,
      apply(events: AnyEnvelope[]) {
        verifier?.note(events);
        const kept = client.soak ? client.soak.debug.filter(events) : events;
        const mine = kept as unknown as Array<Envelope<N>>;
        if (options.apply) options.apply(mine);
        if (!options.on) return;
        for (const envelope of mine) {
          const handler = options.on[envelope.event] as ((data: unknown, env: unknown) => void) | undefined;
          handler?.(envelope.data, envelope);
        }
      },
    },
    { pollOnly: watched?.off, ephemeral: options.ephemeral },
  );
  if (!watched || !flag) return subscription;
  let stopSoak: () => void = () => undefined;
  if (options.verify && client.soak) {
    const soaking = client.soak.verifier(room, flag, subscription, options.verify, () => watched.off.peek());
    verifier = soaking;
    // Nothing runs (no timer) unless the phase is in soak for this org.
    stopSoak = effect(() => {
      if (watched.state.value === 'soak') soaking.start();
      else soaking.stop();
    });
  }
  const close = subscription.close.bind(subscription);
  return Object.assign(subscription, {
    close() {
      stopSoak();
      verifier?.stop();
      close();
      watched.release();
    },
  });
}

/** A snapshot load that counts its outcome: failed when the server answered with a 5xx. */
function counted(
  load: (signal: AbortSignal) => Promise<number>,
  latency: NonNullable<RoomClient['latency']>,
  flag: { orgId: string; phase: Phase },
): (signal: AbortSignal) => Promise<number> {
  return async (signal) => {
    try {
      const cursor = await load(signal);
      latency.outcome(flag.orgId, flag.phase, false);
      return cursor;
    } catch (err) {
      if (err instanceof ApiError && err.status >= 500) latency.outcome(flag.orgId, flag.phase, true);
      throw err;
    }
  };
}
