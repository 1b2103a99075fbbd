import { signal, type ReadonlySignal } from '@preact/signals';
import { realtimeStatus, setPhaseState, type AuditEntry, type PhaseFigures, type PhaseRule, type PhaseSetting, type RealtimeOut } from '../../sdk/domains/flags';
import { ApiError } from '../../sdk/errors';
import type { Phase, PhaseState } from '../../sdk/flags';
import type { Http } from '../../sdk/http';

/** Only an organization's Owners see and change its real-time rollout. */
export function managesRollout(role: string | null | undefined): boolean {
  return role === 'Owner';
}

export const PHASE_LABELS: Record<Phase, { name: string; pages: string }> = {
  members: { name: 'Members', pages: 'The members table and presence' },
  dashboard: { name: 'Dashboard', pages: 'Metrics, charts and the activity feed' },
  kanban: { name: 'Board', pages: 'Kanban boards: cards, moves, lock and typing hints' },
  task: { name: 'Task', pages: 'Task pages: fields, subtasks, comments, files' },
  project: { name: 'Project', pages: 'Project pages and the projects list' },
  chat: { name: 'Messages', pages: 'Conversations, receipts and typing' },
};

export const STATE_LABELS: Record<PhaseState, string> = { off: 'Off', soak: 'Soak', on: 'On' };

export const STATE_HINTS: Record<PhaseSetting, string> = {
  off: 'No live updates: the pages poll.',
  soak: 'Live, and each page re-checks its data every few minutes and reports drift.',
  on: 'Live updates over the socket.',
  default: 'Follow the rollout rule.',
};

/** The choices of a phase's control, in order; `default` hands it back to the rule. */
export const SETTINGS: readonly PhaseSetting[] = ['off', 'soak', 'on', 'default'];

/** What the rule alone would give this organization. */
export function ruleState(rule: PhaseRule): PhaseState {
  return rule.enabled && (rule.allowListed || rule.inRollout) ? 'on' : 'off';
}

/** The rule in words: "On for 25 % of organizations · this one is in". */
export function ruleSummary(rule: PhaseRule): string {
  if (!rule.enabled) return 'Off for every organization';
  const reach = rule.rolloutPercent >= 100 ? 'On for every organization' : `On for ${rule.rolloutPercent} % of organizations`;
  const here = rule.allowListed ? 'this one is allow-listed' : rule.inRollout ? 'this one is in the rollout' : 'this one is not in the rollout';
  return `${reach} · ${here}`;
}

export interface Figure {
  key: keyof PhaseFigures;
  label: string;
  value: string;
  /** Past the automatic rollback's threshold, or a sign of trouble worth a second look. */
  alert: boolean;
}

const whole = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/** The live figures of one phase, formatted, with what deserves attention flagged. */
export function figures(f: PhaseFigures, limits?: { p99Ms: number; maxDrift: number }): Figure[] {
  return [
    { key: 'connections', label: 'Connections', value: whole.format(f.connections), alert: false },
    { key: 'eventsPerMinute', label: 'Events / min', value: oneDecimal.format(f.eventsPerMinute), alert: false },
    {
      key: 'clientP99Ms',
      label: 'Client p99',
      value: f.clientP99Ms === null ? '—' : `${whole.format(f.clientP99Ms)} ms`,
      alert: f.clientP99Ms !== null && limits !== undefined && f.clientP99Ms > limits.p99Ms,
    },
    { key: 'samples', label: 'Samples', value: whole.format(f.samples), alert: false },
    { key: 'drift', label: 'Drift', value: whole.format(f.drift), alert: f.drift > 0 },
    { key: 'errors', label: 'Errors', value: whole.format(f.errors), alert: f.errors > 0 },
    { key: 'drops', label: 'Drops', value: whole.format(f.drops), alert: f.drops > 0 },
  ];
}

export interface AuditRow {
  key: string;
  at: string;
  phase: string;
  change: string;
  reason: string;
  by: string;
  automatic: boolean;
}

function stateWord(value: string): string {
  return value in STATE_LABELS ? STATE_LABELS[value as PhaseState] : value === 'default' ? 'Rule' : value;
}

/** The audit trail, newest first, in words. */
export function auditRows(audit: readonly AuditEntry[]): AuditRow[] {
  return [...audit]
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => (a.entry.at === b.entry.at ? a.index - b.index : a.entry.at < b.entry.at ? 1 : -1))
    .map(({ entry, index }) => ({
      key: `${entry.at}:${entry.phase}:${index}`,
      at: entry.at,
      phase: PHASE_LABELS[entry.phase]?.name ?? entry.phase,
      change: `${stateWord(entry.before)} → ${stateWord(entry.after)}`,
      reason: entry.reason || '—',
      by: entry.automatic ? 'Automatic rollback' : (entry.actor?.name ?? 'Server command line'),
      automatic: entry.automatic,
    }));
}

export function seconds(value: number): string {
  if (value % 3600 === 0) return `${value / 3600} h`;
  if (value % 60 === 0) return `${value / 60} min`;
  return `${value} s`;
}

export function percent(rate: number): string {
  return `${oneDecimal.format(rate * 100)} %`;
}

export interface RolloutOptions {
  /** How often the figures refresh while the page is visible. */
  refreshMs?: number;
  visible?: () => boolean;
  /** Told after a phase's state changed here (the SDK re-reads its flags). */
  onChanged?: () => void;
}

/**
 * The /settings/realtime page's state: the Owner's view of the org's rollout, refreshed every
 * few seconds while the page is visible, and one change at a time per phase.
 */
export class RolloutSettings {
  private readonly _data = signal<RealtimeOut | null>(null);
  private readonly _error = signal<{ forbidden: boolean; message: string } | null>(null);
  private readonly _saving = signal<Partial<Record<Phase, PhaseSetting>>>({});
  readonly data: ReadonlySignal<RealtimeOut | null> = this._data;
  readonly error: ReadonlySignal<{ forbidden: boolean; message: string } | null> = this._error;
  /** The phases whose change is being saved, and to what. */
  readonly saving: ReadonlySignal<Partial<Record<Phase, PhaseSetting>>> = this._saving;
  private timer: ReturnType<typeof setInterval> | null = null;
  private controller = new AbortController();
  private loading: Promise<void> | null = null;

  constructor(
    private readonly http: Http,
    readonly orgId: string,
    private readonly options: RolloutOptions = {},
  ) {}

  start(): void {
    if (this.timer) return;
    void this.refresh();
    this.timer = setInterval(() => {
      if ((this.options.visible ?? documentVisible)()) void this.refresh();
    }, this.options.refreshMs ?? 5_000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.controller.abort(new DOMException('closed', 'AbortError'));
    this.controller = new AbortController();
  }

  refresh(): Promise<void> {
    if (!this.loading) {
      this.loading = this.load().finally(() => (this.loading = null));
    }
    return this.loading;
  }

  /** Sets a phase's state (or hands it back to the rule); false when the server refused. */
  async set(phase: Phase, setting: PhaseSetting): Promise<{ ok: true } | { ok: false; message: string }> {
    if (this._saving.peek()[phase]) return { ok: false, message: 'A change of this phase is being saved.' };
    this._saving.value = { ...this._saving.peek(), [phase]: setting };
    try {
      await setPhaseState(this.http, this.orgId, phase, setting);
      this.options.onChanged?.();
      await this.load();
      return { ok: true };
    } catch (err) {
      return { ok: false, message: err instanceof Error ? err.message : 'The change was not saved.' };
    } finally {
      const { [phase]: _done, ...rest } = this._saving.peek();
      this._saving.value = rest;
    }
  }

  private async load(): Promise<void> {
    try {
      this._data.value = await realtimeStatus(this.http, this.orgId, this.controller.signal);
      this._error.value = null;
    } catch (err) {
      if (this.controller.signal.aborted) return;
      const forbidden = err instanceof ApiError && (err.status === 403 || err.status === 404);
      // Figures that fail to refresh keep showing the last ones; a refusal replaces the page.
      if (forbidden || !this._data.peek()) {
        this._error.value = { forbidden, message: err instanceof Error ? err.message : 'The rollout could not be loaded.' };
      }
    }
  }
}

function documentVisible(): boolean {
  return globalThis.document?.visibilityState !== 'hidden';
}
