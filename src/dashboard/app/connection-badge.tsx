import type { ConnectionState } from '../model/dashboard-state';

const LABELS: Record<ConnectionState, string> = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Disconnected',
};

export function ConnectionBadge(props: { state: ConnectionState; reconnects: number }) {
  return (
    <p class="connection" data-testid="connection" data-state={props.state} role="status">
      <span class="dot" aria-hidden="true" />
      <span data-testid="connection-state">{LABELS[props.state]}</span>
      <span class="muted" data-testid="reconnects">
        {props.reconnects === 1 ? '1 reconnect' : `${props.reconnects} reconnects`}
      </span>
    </p>
  );
}
