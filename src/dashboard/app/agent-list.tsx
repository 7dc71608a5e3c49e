import { agentLoad, agentName, agentStatus, isOnline, userIdOf } from '../model/agents';
import type { ProjectUserDoc } from '../model/documents';

const STATUS_TEXT = { available: 'available', busy: 'busy', away: 'away' } as const;

function LoadBar(props: { pu: ProjectUserDoc; fallbackLimit: number }) {
  const load = agentLoad(props.pu, props.fallbackLimit);
  const title = `${load.used} of ${load.limit} chats${load.limitEstimated ? ' (limit estimated)' : ''}`;
  return (
    <span class="load" title={title}>
      <meter min={0} max={load.limit} value={Math.min(load.used, load.limit)} aria-label={title} />
      <span class="muted" data-testid="agent-load">
        {load.used}/{load.limitEstimated ? '~' : ''}
        {load.limit}
      </span>
    </span>
  );
}

export function AgentRow(props: { userId: string; pu: ProjectUserDoc | undefined; fallbackLimit: number; you?: boolean }) {
  const { pu } = props;
  const name = agentName(pu, props.userId) + (props.you === true ? ' (you)' : '');
  if (pu === undefined) {
    return (
      <li class="agent" data-testid="agent-row" data-agent={props.userId}>
        <span class="who">{name}</span>
        <span class="muted">…</span>
      </li>
    );
  }
  const status = agentStatus(pu);
  return (
    <li class="agent" data-testid="agent-row" data-agent={props.userId} data-status={status}>
      <span class={`pill ${status}`} data-testid="agent-status">
        {STATUS_TEXT[status]}
      </span>
      <span class="who">{name}</span>
      <span class="muted small">{isOnline(pu) ? 'online' : 'offline'}</span>
      <LoadBar pu={pu} fallbackLimit={props.fallbackLimit} />
    </li>
  );
}

/**
 * The agents the visible requests name, followed live through T5 (there is no topic listing a project's members;
 * see model/agents.ts): status, presence and load.
 */
export function AgentList(props: { agents: ReadonlyMap<string, ProjectUserDoc | undefined>; fallbackLimit: number }) {
  const rows = [...props.agents.entries()].sort(([a, pa], [b, pb]) => agentName(pa, a).localeCompare(agentName(pb, b)));
  return (
    <section class="panel" aria-labelledby="agents-title">
      <h2 id="agents-title">
        Agents <span class="muted">({rows.length})</span>
      </h2>
      {rows.length === 0 ? (
        <p class="muted">Agents appear here as the requests name them.</p>
      ) : (
        <ul>
          {rows.map(([id, pu]) => (
            <AgentRow key={id} userId={id} pu={pu} fallbackLimit={props.fallbackLimit} />
          ))}
        </ul>
      )}
    </section>
  );
}

/** The viewer's own status (T4). */
export function MyStatus(props: { me: ProjectUserDoc; fallbackLimit: number }) {
  return (
    <section class="panel" aria-labelledby="me-title" data-testid="my-status">
      <h2 id="me-title">Your status</h2>
      <ul>
        <AgentRow userId={userIdOf(props.me)} pu={props.me} fallbackLimit={props.fallbackLimit} you />
      </ul>
    </section>
  );
}
