import { BOT_GROUP, NOBODY_GROUP, orderRequests, RequestMap, RequestRow } from '../model/request-list';
import { formatDuration } from '../model/format';

const STATUS_LABEL: Record<number, string> = { 100: 'waiting', 200: 'assigned', 300: 'served' };

function Row(props: { row: RequestRow; waiting: boolean }) {
  const { row } = props;
  return (
    <li class="request" data-testid="request-row" data-request={row.key} data-status={row.status}>
      <span class="who">{row.lead}</span>
      <span class="text">{row.firstText}</span>
      <span class={props.waiting ? 'age warn' : 'age muted'} data-testid="request-age">
        {props.waiting
          ? `waiting ${formatDuration(row.ageS)}`
          : `${STATUS_LABEL[row.status] ?? `status ${row.status}`}, ${formatDuration(row.ageS)}`}
      </span>
    </li>
  );
}

/** The open requests this member can see: waiting first with their wait, then grouped by agent. */
export function RequestList(props: { requests: RequestMap; nowServerMs: number; agentName(userId: string): string; title: string }) {
  const ordered = orderRequests(props.requests, props.nowServerMs, props.agentName);
  const groupName = (id: string) => (id === BOT_GROUP ? 'With a bot' : id === NOBODY_GROUP ? 'Nobody assigned' : props.agentName(id));
  return (
    <section class="panel" aria-labelledby="requests-title">
      <h2 id="requests-title">
        {props.title}{' '}
        <span class="muted" data-testid="request-count">
          ({props.requests.size})
        </span>
      </h2>
      {props.requests.size === 0 && <p class="muted">No open request.</p>}
      {ordered.waiting.length > 0 && (
        <div class="group" data-testid="waiting-group">
          <h3>Waiting ({ordered.waiting.length})</h3>
          <ul>
            {ordered.waiting.map((row) => (
              <Row key={row.key} row={row} waiting />
            ))}
          </ul>
        </div>
      )}
      {ordered.byAgent.map((g) => (
        <div class="group" key={g.agentId} data-testid="agent-group" data-agent={g.agentId}>
          <h3>
            {groupName(g.agentId)} ({g.rows.length})
          </h3>
          <ul>
            {g.rows.map((row) => (
              <Row key={row.key} row={row} waiting={false} />
            ))}
          </ul>
        </div>
      ))}
    </section>
  );
}
