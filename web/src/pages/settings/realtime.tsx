import { useEffect, useMemo } from 'preact/hooks';
import { Link } from '../../app/router';
import { client, currentMembership } from '../../app/session';
import { toast } from '../../app/toasts';
import type { AutoRollback, PhaseSetting, PhaseStatus } from '../../sdk/domains/flags';
import { RelativeTime } from '../../ui/time';
import {
  auditRows,
  figures,
  managesRollout,
  PHASE_LABELS,
  percent,
  RolloutSettings,
  ruleState,
  ruleSummary,
  seconds,
  SETTINGS,
  STATE_HINTS,
  STATE_LABELS,
} from './realtime-view';
import './settings.css';

/** /settings/realtime: the Owner's view and control of the organization's real-time rollout. */
export function RealtimeSettingsPage() {
  const membership = currentMembership.value;
  if (!membership) return null;
  return (
    <main class="page settings-page">
      <div class="settings-title">
        <h1>Real-time rollout</h1>
        <p class="muted">
          {membership.orgName} · which pages get live updates, how they are doing, and who changed what.
        </p>
      </div>
      {managesRollout(membership.role) ? <Rollout key={membership.orgId} orgId={membership.orgId} /> : <OwnersOnly />}
    </main>
  );
}

function OwnersOnly() {
  return (
    <section class="card empty-state" data-testid="owners-only">
      <h2>Only Owners can see this</h2>
      <p class="muted">The organization's Owners decide how real-time updates are rolled out. Ask one of them if something looks wrong.</p>
      <Link href="/dashboard" class="button">
        Back to the dashboard
      </Link>
    </section>
  );
}

function Rollout({ orgId }: { orgId: string }) {
  const settings = useMemo(
    () => new RolloutSettings(client.http, orgId, { onChanged: () => void client.flags.refresh(orgId) }),
    [orgId],
  );
  useEffect(() => {
    settings.start();
    const onVisible = () => {
      if (document.visibilityState === 'visible') void settings.refresh();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      document.removeEventListener('visibilitychange', onVisible);
      settings.stop();
    };
  }, [settings]);

  const data = settings.data.value;
  const error = settings.error.value;
  if (error?.forbidden) return <OwnersOnly />;
  if (!data) {
    return (
      <section class="card">
        {error ? (
          <p class="loading" role="alert">
            {error.message}
          </p>
        ) : (
          <p class="loading" aria-busy="true">
            Loading the rollout…
          </p>
        )}
      </section>
    );
  }
  const set = async (phase: PhaseStatus['phase'], setting: PhaseSetting) => {
    const result = await settings.set(phase, setting);
    if (!result.ok) toast(result.message);
  };
  return (
    <>
      <section class="settings-section" aria-labelledby="phases-title">
        <header class="settings-section-header">
          <h2 id="phases-title">Phases</h2>
          <p class="muted">
            Each phase is on, off or soaking for this organization. Soak keeps live updates and has every open page re-check its data every few
            minutes, reporting any drift. Figures cover the last {seconds(data.autoRollback.windowSeconds)} and refresh every few seconds.
          </p>
        </header>
        <div class="card phase-list">
          {data.phases.map((phase) => (
            <PhaseRow key={phase.phase} phase={phase} limits={data.autoRollback} saving={settings.saving.value[phase.phase]} onSet={set} />
          ))}
        </div>
      </section>
      <AutoRollbackSection limits={data.autoRollback} />
      <AuditSection audit={data.audit} />
    </>
  );
}

function PhaseRow({
  phase,
  limits,
  saving,
  onSet,
}: {
  phase: PhaseStatus;
  limits: AutoRollback;
  saving: PhaseSetting | undefined;
  onSet: (phase: PhaseStatus['phase'], setting: PhaseSetting) => void;
}) {
  const label = PHASE_LABELS[phase.phase];
  const current: PhaseSetting = phase.source === 'rule' ? 'default' : phase.state;
  const reason = saving ? `Saving: ${saving === 'default' ? 'back to the rule' : STATE_LABELS[saving]}…` : undefined;
  return (
    <div class="phase" data-testid={`phase-${phase.phase}`} data-state={phase.state}>
      <div class="phase-head">
        <div class="phase-name">
          <h3>{label.name}</h3>
          <span class={`state-badge state-${phase.state}`} data-testid={`phase-${phase.phase}-state`}>
            {STATE_LABELS[phase.state]}
          </span>
          <span class="muted phase-source">{phase.source === 'rule' ? 'from the rule' : 'set for this organization'}</span>
        </div>
        <p class="muted phase-pages">{label.pages}</p>
      </div>
      <div class="phase-control">
        <div class="segmented" role="group" aria-label={`${label.name}: state`}>
          {SETTINGS.map((setting) => (
            <button
              type="button"
              key={setting}
              class="segment"
              aria-pressed={current === setting}
              disabled={saving !== undefined}
              title={reason ?? STATE_HINTS[setting]}
              data-testid={`phase-${phase.phase}-set-${setting}`}
              onClick={() => current !== setting && onSet(phase.phase, setting)}
            >
              {setting === 'default' ? 'Rule' : STATE_LABELS[setting]}
            </button>
          ))}
        </div>
        <span class="phase-saving muted" role="status" aria-live="polite">
          {reason ?? ''}
        </span>
      </div>
      <p class="phase-rule" data-testid={`phase-${phase.phase}-rule`}>
        <span class="muted">Rule: </span>
        {ruleSummary(phase.rule)}
        {phase.source === 'override' && <span class="muted"> · back to the rule, it would be {STATE_LABELS[ruleState(phase.rule)].toLowerCase()}</span>}
      </p>
      <dl class="figures">
        {figures(phase.figures, limits).map((figure) => (
          <div class={figure.alert ? 'figure figure-alert' : 'figure'} key={figure.key} data-testid={`phase-${phase.phase}-${figure.key}`}>
            <dt>{figure.label}</dt>
            <dd>{figure.value}</dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

function AutoRollbackSection({ limits }: { limits: AutoRollback }) {
  const rows: Array<[string, string]> = [
    ['Window', seconds(limits.windowSeconds)],
    ['Client p99 over', `${limits.p99Ms} ms`],
    ['Drift reports over', String(limits.maxDrift)],
    ['Error rate over', percent(limits.maxErrorRate)],
    ['Dispatch lag over', seconds(limits.maxLagSeconds)],
    ['Fewest samples to judge', String(limits.minSamples)],
  ];
  return (
    <section class="settings-section" aria-labelledby="rollback-title">
      <header class="settings-section-header">
        <h2 id="rollback-title">Automatic rollback</h2>
        <p class="muted">
          {limits.enabled
            ? 'A phase that crosses any of these over the window is turned off for this organization by itself, with a record in the audit trail.'
            : 'Off: phases are changed only by hand. The thresholds below are what it would use.'}
        </p>
      </header>
      <div class="card">
        <dl class="settings-list" data-testid="auto-rollback">
          <div>
            <dt>Status</dt>
            <dd>
              <span class={`state-badge ${limits.enabled ? 'state-on' : 'state-off'}`}>{limits.enabled ? 'Enabled' : 'Disabled'}</span>
            </dd>
          </div>
          {rows.map(([label, value]) => (
            <div key={label}>
              <dt>{label}</dt>
              <dd>{value}</dd>
            </div>
          ))}
        </dl>
      </div>
    </section>
  );
}

function AuditSection({ audit }: { audit: Parameters<typeof auditRows>[0] }) {
  const rows = auditRows(audit);
  return (
    <section class="settings-section" aria-labelledby="audit-title">
      <header class="settings-section-header">
        <h2 id="audit-title">Audit trail</h2>
        <p class="muted">Every change of a phase for this organization, newest first.</p>
      </header>
      <div class="card settings-table">
        <table class="table audit-table" data-testid="audit">
          <thead>
            <tr>
              <th>When</th>
              <th>Phase</th>
              <th>Change</th>
              <th>By</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && (
              <tr>
                <td class="empty" colSpan={5}>
                  No changes yet: every phase follows its rule.
                </td>
              </tr>
            )}
            {rows.map((row) => (
              <tr key={row.key} data-testid="audit-row">
                <td>
                  <RelativeTime iso={row.at} />
                </td>
                <td>{row.phase}</td>
                <td class="audit-change">{row.change}</td>
                <td>{row.automatic ? <span class="state-badge state-off">{row.by}</span> : row.by}</td>
                <td class="audit-reason">{row.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
