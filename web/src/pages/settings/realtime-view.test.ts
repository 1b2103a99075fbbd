import { describe, expect, it, vi } from 'vitest';
import type { AuditEntry, PhaseStatus, RealtimeOut } from '../../sdk/domains/flags';
import { ApiError } from '../../sdk/errors';
import type { Http } from '../../sdk/http';
import { auditRows, figures, managesRollout, percent, RolloutSettings, ruleState, ruleSummary, seconds } from './realtime-view';

const FIGURES = { connections: 12, eventsPerMinute: 42.25, clientP99Ms: 180.4, samples: 3400, drift: 0, errors: 0, drops: 0, calls: 0, overP99: 0 };
const LIMITS = { enabled: true, windowSeconds: 300, p99Ms: 1000, maxDrift: 5, maxErrorRate: 0.05, maxLagSeconds: 5, minSamples: 50 };

function phase(overrides: Partial<PhaseStatus> = {}): PhaseStatus {
  return {
    phase: 'kanban',
    state: 'on',
    source: 'rule',
    rule: { enabled: true, rolloutPercent: 100, allowListed: false, inRollout: true },
    figures: FIGURES,
    ...overrides,
  };
}

function answer(phases: PhaseStatus[] = [phase()], audit: AuditEntry[] = []): RealtimeOut {
  return { autoRollback: LIMITS, phases, audit };
}

/** An Http that answers GET /realtime from `state` and PUT /flags by changing it. */
function fakeHttp(state: { current: RealtimeOut }, refuse?: ApiError) {
  const calls: string[] = [];
  let release: (() => void) | null = null;
  const http = {
    request: async (method: string, path: string, options: { body?: { state: string } }) => {
      calls.push(`${method} ${path}${options.body ? ` ${options.body.state}` : ''}`);
      if (refuse) throw refuse;
      if (method === 'PUT') {
        await new Promise<void>((resolve) => (release = resolve));
        const to = options.body!.state;
        state.current = answer([phase(to === 'default' ? {} : { state: to as PhaseStatus['state'], source: 'override' })]);
        return { flags: {}, states: {} };
      }
      return state.current;
    },
  } as unknown as Http;
  return { http, calls, release: () => release?.() };
}

describe('rollout view', () => {
  it('lets only Owners manage the rollout', () => {
    expect(managesRollout('Owner')).toBe(true);
    for (const role of ['Admin', 'Member', 'Guest', null, undefined]) expect(managesRollout(role)).toBe(false);
  });

  it('says what the rule would give the organization', () => {
    expect(ruleSummary({ enabled: true, rolloutPercent: 25, allowListed: false, inRollout: false })).toBe(
      'On for 25 % of organizations · this one is not in the rollout',
    );
    expect(ruleSummary({ enabled: true, rolloutPercent: 25, allowListed: true, inRollout: false })).toBe('On for 25 % of organizations · this one is allow-listed');
    expect(ruleSummary({ enabled: false, rolloutPercent: 100, allowListed: false, inRollout: true })).toBe('Off for every organization');
    expect(ruleState({ enabled: true, rolloutPercent: 25, allowListed: false, inRollout: false })).toBe('off');
    expect(ruleState({ enabled: true, rolloutPercent: 25, allowListed: true, inRollout: false })).toBe('on');
    expect(ruleState({ enabled: false, rolloutPercent: 100, allowListed: true, inRollout: true })).toBe('off');
  });

  it('formats the figures and flags drift, errors, drops and a slow p99', () => {
    const calm = figures(FIGURES, LIMITS);
    expect(calm.map((f) => [f.label, f.value])).toEqual([
      ['Connections', '12'],
      ['Events / min', '42.3'],
      ['Client p99', '180 ms'],
      ['Samples', '3,400'],
      ['Drift', '0'],
      ['Errors', '0'],
      ['Drops', '0'],
    ]);
    expect(calm.some((f) => f.alert)).toBe(false);
    const troubled = figures({ ...FIGURES, clientP99Ms: 1500, drift: 1, errors: 2, drops: 3 }, LIMITS);
    expect(troubled.filter((f) => f.alert).map((f) => f.key)).toEqual(['clientP99Ms', 'drift', 'errors', 'drops']);
    expect(figures({ ...FIGURES, clientP99Ms: null }).find((f) => f.key === 'clientP99Ms')?.value).toBe('—');
  });

  it('lists the audit trail newest first, in words', () => {
    const rows = auditRows([
      { at: '2026-12-05T10:00:00Z', phase: 'kanban', before: 'default', after: 'soak', reason: 'set by an Owner', automatic: false, actor: { id: 'u_ada', name: 'Ada' }, scope: 'org' },
      { at: '2026-12-05T11:00:00Z', phase: 'kanban', before: 'soak', after: 'off', reason: 'client p99 1500 ms over 1000 ms', automatic: true, actor: null, scope: 'org' },
      { at: '2026-12-05T09:00:00Z', phase: 'chat', before: 'on', after: 'off', reason: '', automatic: false, actor: null, scope: 'global' },
    ]);
    expect(rows.map(({ phase, change, by, reason, automatic }) => ({ phase, change, by, reason, automatic }))).toEqual([
      { phase: 'Board', change: 'Soak → Off', by: 'Automatic rollback', reason: 'client p99 1500 ms over 1000 ms', automatic: true },
      { phase: 'Board', change: 'Rule → Soak', by: 'Ada', reason: 'set by an Owner', automatic: false },
      { phase: 'Messages', change: 'On → Off', by: 'Server command line', reason: '—', automatic: false },
    ]);
  });

  it('writes durations and rates for people', () => {
    expect([seconds(300), seconds(3600), seconds(45)]).toEqual(['5 min', '1 h', '45 s']);
    expect(percent(0.05)).toBe('5 %');
  });
});

describe('RolloutSettings', () => {
  it('saves one change of a phase at a time, then shows the new state and tells the SDK', async () => {
    const state = { current: answer() };
    const { http, calls, release } = fakeHttp(state);
    const changed = vi.fn();
    const settings = new RolloutSettings(http, 'org_1', { onChanged: changed });
    await settings.refresh();
    expect(settings.data.value?.phases[0].state).toBe('on');

    const saved = settings.set('kanban', 'soak');
    expect(settings.saving.value).toEqual({ kanban: 'soak' });
    expect(await settings.set('kanban', 'off')).toEqual({ ok: false, message: 'A change of this phase is being saved.' });
    await vi.waitFor(() => expect(calls).toContain('PUT /api/orgs/org_1/flags/kanban soak'));
    release();
    expect(await saved).toEqual({ ok: true });
    expect(settings.saving.value).toEqual({});
    expect(settings.data.value?.phases[0]).toMatchObject({ state: 'soak', source: 'override' });
    expect(changed).toHaveBeenCalledTimes(1);
    expect(calls.filter((c) => c.startsWith('PUT'))).toEqual(['PUT /api/orgs/org_1/flags/kanban soak']);
  });

  it('says the page is for Owners when the server refuses, and why a change failed', async () => {
    const refused = new ApiError(403, 'forbidden', 'Only Owners can do this.');
    const settings = new RolloutSettings(fakeHttp({ current: answer() }, refused).http, 'org_1');
    await settings.refresh();
    expect(settings.error.value).toEqual({ forbidden: true, message: 'Only Owners can do this.' });
    expect(await settings.set('kanban', 'on')).toEqual({ ok: false, message: 'Only Owners can do this.' });
    expect(settings.saving.value).toEqual({});
  });

  it('refreshes the figures only while the page is visible', async () => {
    vi.useFakeTimers();
    try {
      let visible = false;
      const { http, calls } = fakeHttp({ current: answer() });
      const settings = new RolloutSettings(http, 'org_1', { refreshMs: 1_000, visible: () => visible });
      settings.start();
      await vi.advanceTimersByTimeAsync(3_000);
      expect(calls).toHaveLength(1);
      visible = true;
      await vi.advanceTimersByTimeAsync(3_000);
      expect(calls).toHaveLength(4);
      settings.stop();
      await vi.advanceTimersByTimeAsync(3_000);
      expect(calls).toHaveLength(4);
    } finally {
      vi.useRealTimers();
    }
  });
});
