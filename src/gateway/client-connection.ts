import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { Principal } from '../auth/principal';
import { FrameSink, Subscription } from '../fanout/subscription-registry';

const TEXT = { binary: false } as const;

/** One authenticated WebSocket and what the service keeps about it. */
export class ClientConnection implements FrameSink {
  readonly id = randomUUID();
  readonly subscriptions = new Map<string, Subscription>();
  /** Something arrived since the last heartbeat sweep. */
  alive = true;

  constructor(
    readonly ws: WebSocket,
    readonly principal: Principal,
  ) {}

  get userId(): string {
    return this.principal.userId;
  }

  get closed(): boolean {
    return this.ws.readyState !== this.ws.OPEN;
  }

  send(frame: Buffer | string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(frame, TEXT);
  }
}
