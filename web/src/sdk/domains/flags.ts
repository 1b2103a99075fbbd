import type { components } from '../api.gen';
import type { Phase } from '../flags';
import type { Http } from '../http';
import { Rest } from '../rest';
import type { DriftReport } from '../verify';

type Schemas = components['schemas'];

/** PUT /api/orgs/{org_id}/flags/{phase}: `default` hands the phase back to its rule. */
export type PhaseSetting = NonNullable<Schemas['FlagOverrideIn']['state']>;
export type FlagsOut = Schemas['FlagsOut'];
export type AutoRollback = Schemas['AutoRollbackOut'];
export type PhaseRule = Schemas['RuleOut'];
export type PhaseFigures = Schemas['FiguresOut'];
export type PhaseStatus = Schemas['PhaseOut'];
export type AuditEntry = Schemas['FlagChangeOut'];
/** GET /api/orgs/{org_id}/realtime (Owners) */
export type RealtimeOut = Schemas['RealtimeOut'];

/** GET /api/orgs/{org_id}/realtime: each phase's state, rule and live figures; the audit trail. */
export function realtimeStatus(http: Http, orgId: string, signal?: AbortSignal): Promise<RealtimeOut> {
  return new Rest(http).get('/api/orgs/{org_id}/realtime', { path: { org_id: orgId }, signal, retry: false });
}

/** PUT /api/orgs/{org_id}/flags/{phase} (Owners): answers every phase's flags. */
export function setPhaseState(http: Http, orgId: string, phase: Phase, state: PhaseSetting): Promise<FlagsOut> {
  return new Rest(http).put('/api/orgs/{org_id}/flags/{phase}', { path: { org_id: orgId, phase }, body: { state }, retry: false });
}

/** POST /api/orgs/{org_id}/realtime/drift (any member): 204, or 429 past the limit. */
export function reportDrift(http: Http, orgId: string, body: DriftReport): Promise<void> {
  return new Rest(http).post('/api/orgs/{org_id}/realtime/drift', { path: { org_id: orgId }, body, retry: false });
}
