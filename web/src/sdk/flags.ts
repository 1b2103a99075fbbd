import { computed, signal, type ReadonlySignal, type Signal } from '@preact/signals';
import type { components } from './api.gen';
import type { Http } from './http';
import { Rest } from './rest';

export type Phase = 'members' | 'dashboard' | 'kanban' | 'task' | 'project' | 'chat';
/** GET /api/orgs/{id}/flags: each phase's state for the org. */
export type PhaseFlags = components['schemas']['FlagsOut']['flags'];

interface Watched {
  flags: Signal<PhaseFlags | null>;
  watchers: number;
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

  /** True while `phase` is off for the org; false while unknown (the socket is tried first). */
  phaseOff(orgId: string, phase: Phase): { off: ReadonlySignal<boolean>; release: () => void } {
    let watched = this.orgs.get(orgId);
    if (!watched) {
      watched = { flags: signal(null), watchers: 0 };
      this.orgs.set(orgId, watched);
      void this.refreshOrg(orgId);
    }
    watched.watchers += 1;
    this.ensureTimer();
    const flags = watched.flags;
    let released = false;
    return {
      off: computed(() => flags.value?.[phase] === false),
      release: () => {
        if (released) return;
        released = true;
        watched.watchers -= 1;
        if (watched.watchers <= 0) this.orgs.delete(orgId);
        if (this.orgs.size === 0) this.stop();
      },
    };
  }

  refreshAll(): Promise<void> {
    return Promise.all([...this.orgs.keys()].map((orgId) => this.refreshOrg(orgId))).then(() => undefined);
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
      const res = await new Rest(this.http).get('/api/orgs/{org_id}/flags', { path: { org_id: orgId }, retry: false });
      const watched = this.orgs.get(orgId);
      if (watched && res?.flags) watched.flags.value = res.flags;
    } catch {
      // Unknown flags keep the last answer (initially: socket first). The next tick retries.
    }
  }
}
