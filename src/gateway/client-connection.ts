import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { Principal } from '../auth/principal';
import { OutboundFrame } from '../fanout/outbound-frame';
import { FrameSink, ProjectSeat, Subscription } from '../fanout/subscription-registry';
import { FrameRateLimiter } from '../limits/frame-rate-limiter';
import type { FrameActionOut } from '../ops/service-metrics';
import { HeldWrites, TurnWrites } from './turn-writes';

/**
 * The action of a frame the service built: every server frame is `{"action":"<action>",...}` (protocol/frames.ts
 * builds them so), and the four actions differ by their first letter, at byte 11.
 */
function actionOf(payload: Buffer): FrameActionOut {
  switch (payload[11]) {
    case 0x70: // p
      return 'publish';
    case 0x68: // h
      return 'heartbeat';
    case 0x6d: // m
      return 'me';
    default:
      return 'error';
  }
}

/** Close code for a connection whose unsent data passed WS_MAX_BUFFERED_BYTES (protocol.md §2: try again later). */
export const CLOSE_SLOW_CONSUMER = 1013;

/**
 * How many topics' big frames may be going out at once before the allowance stops growing: unsent data per
 * connection stays below WS_MAX_BUFFERED_BYTES plus this many of its largest frames, plus one more frame.
 */
const MAX_OVERSIZED_TOPICS = 4;

/**
 * Held frames are handed to the kernel early, within the turn, once they reach this many bytes (or a quarter of
 * WS_MAX_BUFFERED_BYTES, if less): a big batch still leaves in few system calls, the kernel takes what it can
 * while the turn goes on, and data held here never weighs much against the cap.
 */
const FLUSH_EARLY_BYTES = 64 * 1024;

/** One authenticated WebSocket and what the service keeps about it. */
export class ClientConnection implements FrameSink, HeldWrites {
  readonly subscriptions = new Map<string, Subscription>();
  readonly seats = new Map<string, ProjectSeat>();
  /** Something arrived since the last heartbeat sweep. */
  alive = true;
  /** Per topic (at most MAX_OVERSIZED_TOPICS), the largest frame over WS_MAX_BUFFERED_BYTES written since the socket last drained. */
  private readonly oversized = new Map<string, number>();
  /** Their sum: how far the unsent data may pass the cap until the socket drains. */
  private allowance = 0;
  /** The socket is corked with frames of this turn (see TurnWrites); `heldBytes` of them since the last flush. */
  private holding = false;
  private heldBytes = 0;
  /** The turn (TurnWrites.current) of the last frame written at once. */
  private lastTurn = -1;
  private readonly flushEarlyBytes: number;

  /**
   * `socket`: the upgraded TCP socket under `ws`. Every data frame is written to it directly as an
   * OutboundFrame; `ws` still writes its own control frames (close, pong), each synchronously in one piece
   * (no compression, no queue), so a frame written here never lands inside one of its frames.
   * `onSlow`: told when the connection is closed for unread data (for the log).
   */
  constructor(
    /** Chosen at the handshake, where the connection limits counted it. */
    readonly id: string,
    readonly ws: WebSocket,
    readonly principal: Principal,
    private readonly socket: Duplex,
    private readonly maxBufferedBytes: number,
    private readonly onSlow: (conn: ClientConnection, buffered: number) => void,
    /** RATE_FRAMES_PER_S / RATE_FRAMES_BURST for the frames this client sends. */
    readonly frameRate: FrameRateLimiter,
    /** Told of every frame written, by its action (the Prometheus counter). */
    private readonly onSent?: (action: FrameActionOut) => void,
    /** Coalesces the frames of one turn into one write (see TurnWrites); without it every frame is its own write. */
    private readonly turn?: TurnWrites,
  ) {
    this.flushEarlyBytes = Math.min(FLUSH_EARLY_BYTES, Math.floor(maxBufferedBytes / 4));
  }

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
   * byte has left, so until the socket drains the cap is raised by the largest such frame of each topic (of up
   * to MAX_OVERSIZED_TOPICS). Per topic, not per frame: a client that stops reading and keeps asking for one big
   * snapshot is closed at the third, while one that subscribes to a few big topics at once gets them all.
   * Frames held for the end of the turn (see TurnWrites) count as unsent: they are.
   */
  send(frame: OutboundFrame | string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const backlog = this.socket.writableLength;
    if (backlog > this.maxBufferedBytes + this.allowance) {
      this.ws.close(CLOSE_SLOW_CONSUMER, 'too much unread data: read faster or subscribe to less');
      this.onSlow(this, backlog);
      return;
    }
    const out = typeof frame === 'string' ? OutboundFrame.of(frame) : frame;
    const { wire, topic } = out;
    const turn = this.turn;
    if (turn && !this.holding) {
      if (this.lastTurn !== turn.current) {
        this.lastTurn = turn.current; // the first frame of this turn: written at once
        turn.wroteDirect();
      } else {
        this.socket.cork(); // a second one: it and the rest of the turn leave together at its end
        this.holding = true;
        turn.hold(this);
      }
    }
    this.socket.write(wire);
    if (this.holding && (this.heldBytes += wire.length) >= this.flushEarlyBytes) {
      // Uncorked and corked again: what is held goes now, and the rest of the turn is held anew.
      this.heldBytes = 0;
      this.socket.uncork();
      this.socket.cork();
      this.turn!.wroteEarly();
    }
    this.onSent?.(actionOf(out.payload));
    if (wire.length > this.maxBufferedBytes && this.socket.writableNeedDrain) this.allow(topic, wire.length);
  }

  /** End of the turn: every frame held leaves in one write (ws's own frames of the turn with them, in order). */
  release(): void {
    if (!this.holding) return;
    this.holding = false;
    this.heldBytes = 0;
    this.socket.uncork();
  }

  private allow(topic: string, size: number): void {
    if (this.oversized.size === 0) {
      this.socket.once('drain', () => {
        this.oversized.clear();
        this.allowance = 0;
      });
    }
    const before = this.oversized.get(topic) ?? 0;
    if (size <= before) return;
    if (before === 0 && this.oversized.size >= MAX_OVERSIZED_TOPICS) return; // the bound stays a bound
    this.oversized.set(topic, size);
    this.allowance += size - before;
  }
}
