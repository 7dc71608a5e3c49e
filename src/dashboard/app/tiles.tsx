import type { ProjectMetrics } from '../../analytics/metrics-shape';
import { formatDuration, formatPercent, NO_VALUE } from '../model/format';
import { oldestWaitNow } from '../model/server-clock';

function Tile(props: { id: string; label: string; value: string; hint?: string; tone?: 'warn' | 'bad' }) {
  return (
    <div class={`tile${props.tone ? ` ${props.tone}` : ''}`} data-testid={`tile-${props.id}`}>
      <span class="label">{props.label}</span>
      <span class="value">{props.value}</span>
      {props.hint !== undefined && <span class="hint">{props.hint}</span>}
    </div>
  );
}

/** The figures a lead watches; the oldest wait ticks every second from the last object's value. */
export function Tiles(props: { metrics: ProjectMetrics; receivedAtMs: number; now: number }) {
  const { requests, agents, capacity } = props.metrics;
  const oldest = oldestWaitNow(requests.oldest_wait_s, props.receivedAtMs, props.now);
  const utilization =
    capacity.utilization === null
      ? { value: NO_VALUE, hint: `${capacity.unlimited_agents} agent${capacity.unlimited_agents === 1 ? '' : 's'} without a chat limit` }
      : { value: formatPercent(capacity.utilization), hint: `${capacity.slots_used} of ${capacity.slots_total ?? 0} chat slots` };
  return (
    <section class="tiles" aria-label="Now">
      <Tile id="open" label="Open" value={String(requests.open)} hint={`${requests.assigned} assigned, ${requests.served} served`} />
      <Tile id="waiting" label="Waiting" value={String(requests.unassigned)} tone={requests.unassigned > 0 ? 'warn' : undefined} />
      <Tile
        id="oldest-wait"
        label="Oldest wait"
        value={formatDuration(oldest)}
        hint={requests.avg_wait_s === null ? 'nobody waits' : `average ${formatDuration(requests.avg_wait_s)}`}
      />
      <Tile
        id="available"
        label="Agents available"
        value={String(agents.available)}
        hint={`${agents.online} online of ${agents.members}`}
      />
      <Tile id="busy" label="Busy" value={String(agents.busy)} hint="at their chat limit" />
      <Tile id="away" label="Away" value={String(agents.unavailable)} hint="not available" />
      <Tile id="utilization" label="Utilization" value={utilization.value} hint={utilization.hint} />
    </section>
  );
}
