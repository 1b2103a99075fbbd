import { useEffect, useMemo } from 'preact/hooks';
import { Link } from '../../app/router';
import { client, currentMembership, me, selectOrg } from '../../app/session';
import { errorMessage, toast } from '../../app/toasts';
import { watchMembers } from '../../sdk/domains/org';
import { watchProjectPage } from '../../sdk/project/live';
import { ActivityFeed } from '../dashboard/metrics-section';
import type { ProjectContext } from './context';
import { Description, Header } from './details';
import { Files } from './files';
import { Members } from './members';
import { Counters, Timeline } from './summary';
import { canManage, roleOf } from './view';
import './project.css';

export function ProjectPage({ projectId }: { projectId: string }) {
  const current = me.value;
  const membership = currentMembership.value;
  if (!current || !membership) return null;
  const guest = membership.role === 'Guest';
  return <LiveProjectPage key={`${projectId}:${membership.orgId}:${guest}`} projectId={projectId} orgId={membership.orgId} userId={current.user.id} guest={guest} />;
}

function LiveProjectPage({ projectId, orgId, userId, guest }: { projectId: string; orgId: string; userId: string; guest: boolean }) {
  const members = useMemo(() => watchMembers(client, orgId), [orgId]);
  const watched = useMemo(() => watchProjectPage(client, projectId, orgId, { userId, guest }), [projectId, orgId, userId, guest]);
  useEffect(
    () => () => {
      watched.close();
      members.subscription.close();
    },
    [watched, members],
  );
  const data = watched.data.value;
  const projectOrg = data?.project.orgId;
  useEffect(() => {
    // A project of another of the person's organizations: switch to it (names, roles).
    if (projectOrg && projectOrg !== orgId) selectOrg(projectOrg);
  }, [projectOrg, orgId]);

  const orgRole = currentMembership.value?.role;
  const ctx = useMemo<ProjectContext | null>(() => {
    if (!data) return null;
    return {
      data,
      projectId,
      me: userId,
      manage: canManage(orgRole, roleOf(data.members, userId)),
      api: client.api,
      nameOf: (id) => (id ? (members.store.peek(id)?.name ?? data.members.find((m) => m.userId === id)?.name ?? 'Someone') : 'Someone'),
      async write(verb, run) {
        try {
          await run();
          return true;
        } catch (err) {
          toast(`Could not ${verb} “${data.project.name}”: ${errorMessage(err)}`, 'error', 7_000);
          return false;
        }
      },
    };
  }, [data, projectId, userId, orgRole, members]);

  if (!ctx) {
    if (watched.failed.value) {
      return <Unavailable title="This project cannot be shown" detail="It does not exist, or you do not have access to it." />;
    }
    return (
      <main class="page project-page">
        <p class="loading">Loading the project…</p>
      </main>
    );
  }
  if (ctx.data.lost) {
    return <Unavailable title="You no longer have access to this project" detail="You were taken off it, so its details are no longer shown to you." />;
  }
  const people = members.store.values();
  return (
    <main class="page project-page" data-testid="project-page" data-can-manage={ctx.manage ? 'true' : 'false'} data-status={ctx.data.project.status}>
      <Header ctx={ctx} />
      <Counters metrics={ctx.data.metrics} />
      <div class="project-layout">
        <div class="project-main">
          <Description ctx={ctx} />
          <Timeline project={ctx.data.project} due={ctx.data.due} />
          <Files files={ctx.data.files} tokens={client.tokens} />
        </div>
        <aside class="project-side">
          <Members ctx={ctx} people={people} />
          <div data-testid="project-activity">
            <ActivityFeed activity={ctx.data.activity} nameOf={ctx.nameOf} />
          </div>
        </aside>
      </div>
    </main>
  );
}

function Unavailable({ title, detail }: { title: string; detail: string }) {
  return (
    <main class="page project-page">
      <section class="card empty-state" data-testid="project-unavailable" role="alert">
        <h1>{title}</h1>
        <p class="muted">{detail}</p>
        <Link href="/projects" class="button button-primary">
          Go to the projects
        </Link>
      </section>
    </main>
  );
}
