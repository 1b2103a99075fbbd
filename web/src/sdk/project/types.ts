import type { components } from '../api.gen';
import type { EventMap } from '../events.gen';
import type { ProjectEvent } from '../domains/project';

type Schemas = components['schemas'];

/** The project page's wire shapes, from the generated contract. */
export type ProjectPageSnapshot = Schemas['ProjectPage'];
export type Project = Schemas['ProjectOut'];
export type ProjectStatus = Project['status'];
export type ProjectMember = Schemas['ProjectMemberOut'];
export type ProjectRole = ProjectMember['role'];
export type ProjectFile = Schemas['ProjectFile'];
export type ProjectMetrics = Schemas['ProjectMetrics'];
export type DueDay = Schemas['DueDay'];
export type ProjectActivity = Schemas['ActivityOut'];
export type ProjectPatch = Schemas['ProjectPatch'];

/** Any event of the project room, as the page's reducer takes it (the envelope's meta is not read). */
export type AnyProjectEnvelope = { [K in ProjectEvent]: { event: K; seq?: number; room?: string; data: EventMap[K] } }[ProjectEvent];
