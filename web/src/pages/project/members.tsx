import { useSignal } from '@preact/signals';
import { addProjectMember, changeProjectRole, removeProjectMember } from '../../sdk/domains/project';
import type { ProjectMember, ProjectRole } from '../../sdk/project/types';
import type { MemberRow } from '../../sdk/reducers/members';
import { Avatar } from '../../ui/avatar';
import type { ProjectContext } from './context';
import { addable, ROLES } from './view';

/** The project's people and their roles; its managers add, re-role and remove them. */
export function Members({ ctx, people }: { ctx: ProjectContext; people: readonly MemberRow[] }) {
  const { members } = ctx.data;
  return (
    <section class="card project-section" aria-labelledby="project-members-heading" data-testid="project-members">
      <div class="project-section-head">
        <h2 id="project-members-heading">Members</h2>
        <span class="count" data-testid="project-members-count">
          {members.length}
        </span>
      </div>
      {members.length === 0 ? (
        <p class="muted">Nobody has a role on this project yet.</p>
      ) : (
        <ul class="project-members">
          {members.map((m) => (
            <MemberItem key={m.userId} ctx={ctx} member={m} />
          ))}
        </ul>
      )}
      {ctx.manage && <AddMember ctx={ctx} people={addable(people, members)} />}
    </section>
  );
}

function MemberItem({ ctx, member }: { ctx: ProjectContext; member: ProjectMember }) {
  const you = member.userId === ctx.me;
  return (
    <li class="project-member" data-testid="project-member" data-user-id={member.userId} data-role={member.role}>
      <Avatar name={member.name} url={member.avatarUrl} seed={member.userId} size={28} />
      <span class="project-member-name">
        {member.name}
        {you && <span class="muted"> (you)</span>}
      </span>
      {ctx.manage ? (
        <>
          <select
            aria-label={`Role of ${member.name}`}
            value={member.role}
            onChange={(e) => {
              const role = e.currentTarget.value as ProjectRole;
              void ctx.write(`make ${member.name} a ${role} of`, () => changeProjectRole(ctx.api, ctx.projectId, member.userId, role));
            }}
            data-testid="project-member-role"
          >
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
          <button
            type="button"
            class="icon-button"
            aria-label={`Remove ${member.name} from the project`}
            onClick={() => void ctx.write(`remove ${member.name} from`, () => removeProjectMember(ctx.api, ctx.projectId, member.userId))}
            data-testid="project-member-remove"
          >
            ×
          </button>
        </>
      ) : (
        <span class={`pill pill-role-${member.role.toLowerCase()}`} data-testid="project-member-role">
          {member.role}
        </span>
      )}
    </li>
  );
}

function AddMember({ ctx, people }: { ctx: ProjectContext; people: readonly MemberRow[] }) {
  const userId = useSignal('');
  const role = useSignal<ProjectRole>('Contributor');
  const busy = useSignal(false);
  const chosen = people.some((p) => p.userId === userId.value) ? userId.value : '';
  if (people.length === 0) return <p class="muted project-add-none">Everyone in the organization is on this project.</p>;
  return (
    <form
      class="project-add-member"
      aria-label="Add a member"
      onSubmit={async (e) => {
        e.preventDefault();
        if (!chosen) return;
        busy.value = true;
        const name = people.find((p) => p.userId === chosen)?.name ?? 'them';
        if (await ctx.write(`add ${name} to`, () => addProjectMember(ctx.api, ctx.projectId, { userId: chosen, role: role.value }))) userId.value = '';
        busy.value = false;
      }}
    >
      <label class="field">
        <span>Person</span>
        <select value={chosen} onChange={(e) => (userId.value = e.currentTarget.value)} data-testid="project-add-person">
          <option value="">Choose someone…</option>
          {people.map((p) => (
            <option key={p.userId} value={p.userId}>
              {p.name}
              {p.role === 'Guest' ? ' (Guest)' : ''}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>Role</span>
        <select value={role.value} onChange={(e) => (role.value = e.currentTarget.value as ProjectRole)} data-testid="project-add-role">
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" class="button button-primary button-small" disabled={!chosen || busy.value} data-testid="project-add-submit">
        Add
      </button>
    </form>
  );
}
