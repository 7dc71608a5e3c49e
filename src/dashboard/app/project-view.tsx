import { useEffect, useMemo } from 'preact/hooks';
import type { MemberProject } from '../../analytics/metrics-shape';
import { agentName, userIdOf } from '../model/agents';
import { hasNoData, TopicStatus } from '../model/dashboard-state';
import { socketUrl } from '../model/session';
import { baselineFrom, ASSUMED_SLOTS_PER_AGENT } from '../model/what-if';
import { AgentList, MyStatus } from './agent-list';
import { ConnectionBadge } from './connection-badge';
import { ForecastPanel } from './forecast-panel';
import { useLiveState, useNow } from './hooks';
import { LiveProject } from './live-project';
import { QueueChart } from './queue-chart';
import { RequestList } from './request-list';
import { Tiles } from './tiles';
import { WhatIfPanel } from './what-if-panel';

/** What the page knows of the chosen project: all of MemberProject when /v1/me/projects answered, else the id. */
export type ProjectChoice = Pick<MemberProject, 'project_id'> & Partial<Omit<MemberProject, 'project_id'>>;

export const MESSAGES = {
  metricsForbidden: 'You are not allowed to see metrics of this project.',
  notMember: 'You are not an active member of this project: the service refuses its topics.',
  noMetricsTopic: 'This service does not publish metrics.',
  waitingForFigures: 'Waiting for the first figures…',
} as const;

export function noDataMessage(windowS: number): string {
  return `No data for this project yet: no open request, and none arrived or closed in the last ${Math.round(windowS / 60)} minutes.`;
}

function refusedWith(t: TopicStatus, code: string): boolean {
  return t.kind === 'refused' && t.code === code;
}

/** One project, live: the team view for members with analytics rights, the member's own view otherwise. */
export function ProjectView(props: {
  token: string;
  wsPath: string;
  choice: ProjectChoice;
  clockOffsetMs: number;
  onUnauthorized(): void;
}) {
  const { token, wsPath, choice } = props;
  const live = useMemo(
    () =>
      new LiveProject({
        url: socketUrl(window.location, wsPath),
        token,
        project: choice.project_id,
        analytics: choice.analytics,
        projectUserId: choice.project_user_id,
        onUnauthorized: () => props.onUnauthorized(),
      }),
    // A new socket for a new token or project only.
    [token, wsPath, choice.project_id, choice.analytics, choice.project_user_id],
  );
  useEffect(() => {
    live.clock(props.clockOffsetMs);
    live.start();
    return () => live.stop();
  }, [live]);
  const state = useLiveState(live);
  const now = useNow(1000);
  const nowServerMs = now + state.clockOffsetMs;

  const metrics = state.metrics?.value ?? null;
  const metricsForbidden = refusedWith(state.metricsTopic, 'forbidden');
  const teamView = choice.analytics !== false && !metricsForbidden;
  const fallbackLimit = metrics !== null ? baselineFrom(metrics).slotsPerAgent : ASSUMED_SLOTS_PER_AGENT;
  // The viewer's own project_user names the viewer where the agents panel does not follow anyone (the member view).
  const me = state.me;
  const nameOf = (userId: string) =>
    agentName(state.agents.get(userId) ?? (me !== null && userIdOf(me) === userId ? me : undefined), userId);

  const notices: Array<{ id: string; text: string; tone: 'info' | 'bad' }> = [];
  if (refusedWith(state.requestsTopic, 'forbidden')) notices.push({ id: 'not-member', text: MESSAGES.notMember, tone: 'bad' });
  if (metricsForbidden) notices.push({ id: 'metrics-forbidden', text: MESSAGES.metricsForbidden, tone: 'bad' });
  if (refusedWith(state.metricsTopic, 'unknown_topic'))
    notices.push({ id: 'no-metrics-topic', text: MESSAGES.noMetricsTopic, tone: 'info' });
  if (metrics !== null && hasNoData(metrics)) notices.push({ id: 'no-data', text: noDataMessage(metrics.window_s), tone: 'info' });
  if (teamView && metrics === null && state.metricsTopic.kind === 'pending' && state.connection === 'open') {
    notices.push({ id: 'waiting-for-figures', text: MESSAGES.waitingForFigures, tone: 'info' });
  }

  return (
    <main data-testid="project-view" data-view={teamView ? 'team' : 'member'}>
      <div class="bar">
        <h1>
          {choice.name ?? choice.project_id}
          {choice.role !== undefined && <span class="muted small"> — {choice.role}</span>}
        </h1>
        <ConnectionBadge state={state.connection} reconnects={state.reconnects} />
      </div>
      {notices.map((n) => (
        <p key={n.id} class={`notice ${n.tone}`} data-testid={`notice-${n.id}`} role={n.tone === 'bad' ? 'alert' : 'status'}>
          {n.text}
        </p>
      ))}
      {teamView && metrics !== null && state.metrics !== null && (
        <>
          <Tiles metrics={metrics} receivedAtMs={state.metrics.receivedAtMs} now={now} />
          <div class="columns">
            <ForecastPanel forecast={metrics.forecast} />
            <WhatIfPanel metrics={metrics} />
          </div>
        </>
      )}
      {teamView && state.metricsTopic.kind !== 'refused' && <QueueChart series={state.series} />}
      <div class="columns">
        <RequestList
          requests={state.requests}
          nowServerMs={nowServerMs}
          agentName={nameOf}
          title={teamView ? 'Open requests' : 'Your requests'}
        />
        <div>
          {state.me !== null && <MyStatus me={state.me} fallbackLimit={fallbackLimit} />}
          {teamView && <AgentList agents={state.agents} fallbackLimit={fallbackLimit} />}
        </div>
      </div>
    </main>
  );
}
