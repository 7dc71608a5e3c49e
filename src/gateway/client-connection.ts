import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { Principal } from '../auth/principal';
import { OutboundFrame } from '../fanout/outbound-frame';
import { FrameSink, Subscription } from '../fanout/subscription-registry';

const TEXT = { binary: false } as const;

/** One authenticated WebSocket and what the service keeps about it. */
export class ClientConnection implements FrameSink {
  readonly id = randomUUID();
  readonly subscriptions = new Map<string, Subscription>();
  /** Something arrived since the last heartbeat sweep. */
  alive = true;

  /**
   * `socket`: the upgraded TCP socket under `ws`. Prepared frames are written to it directly: `ws` sends
   * each frame synchronously in one piece (no compression, no queue), so a frame written here never lands
   * inside one of its frames, and the same checks (open, buffered amount) hold for both.
   */
  constructor(
    readonly ws: WebSocket,
    readonly principal: Principal,
    private readonly socket?: Duplex,
  ) {}

  get userId(): string {
    return this.principal.userId;
  }

  get closed(): boolean {
    return this.ws.readyState !== this.ws.OPEN;
  }

  send(frame: OutboundFrame | string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (typeof frame === 'string') this.ws.send(frame, TEXT);
    else if (this.socket) this.socket.write(frame.wire);
    else this.ws.send(frame.payload, TEXT);
  }
}
