import type { HistogramData } from './histogram';

/** How a client talks to its server: plain WebSocket frames (ours, the raw `ws` peer) or Socket.IO. */
export type ClientKind = 'ws' | 'socketio';

/** One simulated client, as the coordinator hands it to a load-generator worker. */
export interface ClientSpec {
  /** Full URL, credentials included (our service: `?token=`). Loopback only. */
  url: string;
  /** Topics it subscribes to; each subscribe is answered by exactly one frame (snapshot, ack or error). */
  topics: string[];
  kind: ClientKind;
  /** Source address (127.0.0.x) so that clients spread over addresses, not only over ephemeral ports. */
  localAddress?: string;
  /** Index of the server process (replica) it is connected to, for the same-/cross-replica split. */
  group: number;
  /** Keys of the events it must receive; absent: every measured event. */
  keys?: number[];
}

export type ToWorker =
  | { type: 'connect'; req: number; specs: ClientSpec[]; concurrency: number; timeoutMs: number; socketIoModule?: string }
  | { type: 'count'; req: number }
  | { type: 'begin'; req: number; ingestTargets: number }
  | { type: 'finish'; req: number; events: Array<[id: number, key: number]>; deadline: number }
  | { type: 'disconnect'; req: number }
  | {
      type: 'reconnect';
      req: number;
      /** When the storm starts (monotonic ms; the same instant in every worker). */
      at: number;
      /** Reconnects in flight per worker; 0: all at once. */
      concurrency: number;
      /** Per attempt: connect + subscribe answered within this, or the attempt fails. */
      timeoutMs: number;
      backoff: Backoff;
      /** A client whose attempt fails after this (monotonic ms) gives up. */
      giveUpAt: number;
    };

/** Delay before retry k (0-based): firstMs × 2^k, at most maxMs, jittered to between half and all of it. */
export interface Backoff {
  firstMs: number;
  maxMs: number;
}

export type FromWorker = { type: 'reply'; req: number; body: unknown } | { type: 'failed'; req: number; error: string };

export interface ConnectReport {
  connected: number;
  failed: number;
  errors: string[];
  ms: number;
}

/** What one worker saw when every client of it dropped its connection and reconnected (S6). */
export interface ReconnectReport {
  reconnected: number;
  /** Clients that gave up (no answered subscribe by `giveUpAt`). */
  failed: number;
  /** Attempts after each client's first (refused, timed out or closed before the subscribe was answered). */
  retries: number;
  errors: string[];
  /** Per client: storm start to its subscribe answered. */
  timeToSnapshot: HistogramData;
  /** When the last client of this worker had its answer (monotonic ms; 0: none). */
  lastAt: number;
  /** Bytes of the subscribe answers (snapshots) received; plain WebSocket clients only. */
  answerBytes: number;
  cpuMs: number;
}

/** What one worker measured between `begin` and `finish`. */
export interface WorkerReport {
  clients: number;
  /** Measured frames received (a frame carrying a `bench_id` > 0), duplicates included. */
  frames: number;
  expected: number;
  lost: number;
  duplicates: number;
  /** Frames for events the client should not have received (a filtering leak). */
  unexpected: number;
  /** Frames without benchmark fields (heartbeats, warm-up events). */
  other: number;
  closedEarly: number;
  all: HistogramData;
  same: HistogramData;
  cross: HistogramData;
  /** Per event id, the latency of its last receiver in this worker (-1: none). */
  lastByEvent: number[];
  firstFrameAt: number;
  lastFrameAt: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  windowMs: number;
  rssBytes: number;
}
