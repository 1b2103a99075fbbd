import { computed, signal, type ReadonlySignal, type Signal } from '@preact/signals';
import type { components } from './api.gen';
import type { Http } from './http';
import { Rest } from './rest';

export type Phase = 'members' | 'dashboard' | 'kanban' | 'task' | 'project' | 'chat';
export const PHASES: readonly Phase[] = ['members', 'dashboard', 'kanban', 'task', 'project', 'chat'];
/** GET /api/orgs/{id}/flags: each phase's state for the org. */
export type PhaseFlags = components['schemas']['FlagsOut']['flags'];
/** `soak`: live as when on, and the SDK verifies the live state against fresh snapshots. */
export type PhaseState = components['schemas']['FlagsOut']['states'][string];
export type PhaseStates = Partial<Record<string, PhaseState>>;

/** The flags answer: a server from before soak states sends `flags` only. */
type FlagsAnswer = { flags?: PhaseFlags; states?: PhaseStates };

interface Watched {
  states: Signal<PhaseStates | null>;
  watchers: number;
}

export interface WatchedPhase {
  /** True while the phase is off for the org; false while unknown (the socket is tried first). */
  off: ReadonlySignal<boolean>;
  /** The phase's state for the org; null while unknown. */
  state: ReadonlySignal<PhaseState | null>;
  release: () => void;
}

/** Each phase's state from a flags answer: `states` when sent, else on/off from `flags`. */
export function statesOf(answer: FlagsAnswer): PhaseStates {
  const states: PhaseStates = {};
  for (const [phase, enabled] of Object.entries(answer.flags ?? {})) states[phase] = enabled ? 'on' : 'off';
  return { ...states, ...answer.states };
}

/**
 * The per-org phase flags. A phase that is off emits no socket events for the org, so
 * its rooms must poll; flags are re-read periodically and after each reconnect so a
 * flag turned back on moves the page back to the socket.
 */
export class FlagWatcher {
  private readonly orgs = new Map<string, Watched>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly http: Http,
    private readonly intervalMs = 60_000,
  ) {}

  /** Watches one phase of one org until released. */
  watch(orgId: string, phase: Phase): WatchedPhase {
    let watched = this.orgs.get(orgId);
    if (!watched) {
      watched = { states: signal(null), watchers: 0 };
      this.orgs.set(orgId, watched);
      void this.refreshOrg(orgId);
    }
    watched.watchers += 1;
    this.ensureTimer();
    const states = watched.states;
    let released = false;
    const state = computed(() => states.value?.[phase] ?? null);
    return {
      off: computed(() => state.value === 'off'),
      state,
      release: () => {
        if (released) return;
        released = true;
        watched.watchers -= 1;
        if (watched.watchers <= 0) this.orgs.delete(orgId);
        if (this.orgs.size === 0) this.stop();
      },
    };
  }

  /** True while `phase` is off for the org; false while unknown (the socket is tried first). */
  phaseOff(orgId: string, phase: Phase): { off: ReadonlySignal<boolean>; release: () => void } {
    return this.watch(orgId, phase);
  }

  refreshAll(): Promise<void> {
    return Promise.all([...this.orgs.keys()].map((orgId) => this.refreshOrg(orgId))).then(() => undefined);
  }

  /** Re-reads one org's flags now (e.g. after an Owner changed one in this tab). */
  refresh(orgId: string): Promise<void> {
    return this.orgs.has(orgId) ? this.refreshOrg(orgId) : Promise.resolve();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private ensureTimer(): void {
    if (!this.timer) this.timer = setInterval(() => void this.refreshAll(), this.intervalMs);
  }

  private async refreshOrg(orgId: string): Promise<void> {
    try {
      const res: FlagsAnswer = await new Rest(this.http).get('/api/orgs/{org_id}/flags', { path: { org_id: orgId }, retry: false });
      const watched = this.orgs.get(orgId);
      if (watched && (res?.flags || res?.states)) watched.states.value = statesOf(res);
    } catch {
      // Unknown flags keep the last answer (initially: socket first). The next tick retries.
    }
  }
}
