import type { Phase, PhaseState } from '../flags';
import type { Http } from '../http';
import type { DriftReport } from '../verify';

/** PUT /api/orgs/{org_id}/flags/{phase}: `default` hands the phase back to its rule. */
export type PhaseSetting = PhaseState | 'default';

/** GET /api/orgs/{org_id}/flags */
export interface FlagsOut {
  flags: Record<string, boolean>;
  states: Record<string, PhaseState>;
}

export interface AutoRollback {
  enabled: boolean;
  windowSeconds: number;
  p99Ms: number;
  maxDrift: number;
  maxErrorRate: number;
  maxLagSeconds: number;
}

export interface PhaseRule {
  enabled: boolean;
  rolloutPercent: number;
  allowListed: boolean;
  inRollout: boolean;
}

export interface PhaseFigures {
  connections: number;
  eventsPerMinute: number;
  clientP99Ms: number | null;
  samples: number;
  drift: number;
  errors: number;
  drops: number;
}

export interface PhaseStatus {
  phase: Phase;
  state: PhaseState;
  source: 'override' | 'rule';
  rule: PhaseRule;
  figures: PhaseFigures;
}

export interface AuditEntry {
  at: string;
  phase: Phase;
  before: PhaseState;
  after: PhaseState;
  reason: string;
  automatic: boolean;
  actor: { id: string; name: string } | null;
}

/** GET /api/orgs/{org_id}/realtime (Owners) */
export interface RealtimeOut {
  autoRollback: AutoRollback;
  phases: PhaseStatus[];
  audit: AuditEntry[];
}

const orgPath = (orgId: string) => `/api/orgs/${encodeURIComponent(orgId)}`;

/** GET /api/orgs/{org_id}/realtime: each phase's state, rule and live figures; the audit trail. */
export function realtimeStatus(http: Http, orgId: string, signal?: AbortSignal): Promise<RealtimeOut> {
  return http.get<RealtimeOut>(`${orgPath(orgId)}/realtime`, { signal, retry: false });
}

/** PUT /api/orgs/{org_id}/flags/{phase} (Owners): answers every phase's flags. */
export function setPhaseState(http: Http, orgId: string, phase: Phase, state: PhaseSetting): Promise<FlagsOut> {
  return http.request<FlagsOut>('PUT', `${orgPath(orgId)}/flags/${phase}`, { body: { state }, retry: false });
}

/** POST /api/orgs/{org_id}/realtime/drift (any member): 204, or 429 past the limit. */
export function reportDrift(http: Http, orgId: string, body: DriftReport): Promise<void> {
  return http.post<void>(`${orgPath(orgId)}/realtime/drift`, body, { retry: false });
}
