import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { Principal } from '../auth/principal';
import { OutboundFrame } from '../fanout/outbound-frame';
import { FrameSink, Subscription } from '../fanout/subscription-registry';

const TEXT = { binary: false } as const;
/** Close code for a connection whose unsent data passed WS_MAX_BUFFERED_BYTES (protocol.md §2: try again later). */
export const CLOSE_SLOW_CONSUMER = 1013;

/** One authenticated WebSocket and what the service keeps about it. */
export class ClientConnection implements FrameSink {
  readonly id = randomUUID();
  readonly subscriptions = new Map<string, Subscription>();
  /** Something arrived since the last heartbeat sweep. */
  alive = true;
  /** The largest frame over WS_MAX_BUFFERED_BYTES written within the cap since the socket last drained. */
  private oversized = 0;

  /**
   * `socket`: the upgraded TCP socket under `ws`. Prepared frames are written to it directly: `ws` sends
   * each frame synchronously in one piece (no compression, no queue), so a frame written here never lands
   * inside one of its frames, and the same checks (open, buffered amount) hold for both.
   * `onSlow`: told when the connection is closed for unread data (for the log).
   */
  constructor(
    readonly ws: WebSocket,
    readonly principal: Principal,
    private readonly socket: Duplex,
    private readonly maxBufferedBytes: number,
    private readonly onSlow: (conn: ClientConnection, buffered: number) => void,
  ) {}

  get userId(): string {
    return this.principal.userId;
  }

  get closed(): boolean {
    return this.ws.readyState !== this.ws.OPEN;
  }

  /**
   * Sends a frame; a client that reads slower than frames arrive is closed with 1013 once the data still
   * unsent from earlier frames passes WS_MAX_BUFFERED_BYTES (operations.md §3): nothing more is queued for it,
   * so its memory stays bounded, and nobody else waits for it. Frames larger than the cap (big snapshots the
   * client asked for) are not held against it while they go out: Node counts a write as unsent until its last
   * byte has left, so until the socket drains the cap is raised by the largest such frame written while the
   * backlog was within the cap. One allowance, not a sum: a client that stops reading and keeps asking for big
   * snapshots is closed at the third, so its memory stays bounded by the cap plus two of them.
   */
  send(frame: OutboundFrame | string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const backlog = this.socket.writableLength;
    if (backlog > this.maxBufferedBytes + this.oversized) {
      this.ws.close(CLOSE_SLOW_CONSUMER, 'too much unread data: read faster or subscribe to less');
      this.onSlow(this, backlog);
      return;
    }
    let size: number;
    if (typeof frame === 'string') {
      size = Buffer.byteLength(frame);
      this.ws.send(frame, TEXT);
    } else {
      size = frame.wire.length;
      this.socket.write(frame.wire);
    }
    if (size > this.maxBufferedBytes && backlog <= this.maxBufferedBytes && this.socket.writableNeedDrain) this.allowOversized(size);
  }

  private allowOversized(size: number): void {
    if (this.oversized === 0) this.socket.once('drain', () => (this.oversized = 0));
    this.oversized = Math.max(this.oversized, size);
  }
}
