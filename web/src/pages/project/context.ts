import type { ProjectData } from '../../sdk/reducers/project';
import type { Rest } from '../../sdk/rest';

/** What the project page's sections share. */
export interface ProjectContext {
  data: ProjectData;
  projectId: string;
  me: string;
  /** May change the project's fields and members (its Leads, the org's Owners and Admins). */
  manage: boolean;
  api: Rest;
  /** A person's name by user id, from the live members table. */
  nameOf: (userId: string | null) => string;
  /** Runs a write; a refusal is told with the server's reason. */
  write: (verb: string, run: () => Promise<unknown>) => Promise<boolean>;
}
