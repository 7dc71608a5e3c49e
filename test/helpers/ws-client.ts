import WebSocket from 'ws';
import { waitFor } from './wait-for';

export interface Frame {
  action: string;
  payload: { topic?: string | null; method?: string; message?: any; code?: string; [k: string]: any };
}

export class HandshakeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: Record<string, string | string[] | undefined>,
  ) {
    super(`handshake refused with ${status}: ${body}`);
  }
}

/** A real `ws` client that records every frame it receives. */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  closeInfo: { code: number; reason: string } | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      this.raw.push(text);
      this.frames.push(JSON.parse(text) as Frame);
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
    });
  }

  /** `opts.ws`: more `ws` client options (e.g. `rejectUnauthorized: false` or `ca` for a self-signed wss:// server). */
  static connect(url: string, opts: { headers?: Record<string, string>; ws?: WebSocket.ClientOptions } = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { ...opts.ws, headers: opts.headers ?? opts.ws?.headers });
      const client = new TestClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(new HandshakeRefused(res.statusCode ?? 0, body, res.headers)));
      });
      ws.once('error', (err) => reject(err));
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Subscribes and resolves with the answer: the snapshot (`publish CREATE`) or an `error` for that topic. */
  async subscribe(topic: string): Promise<Frame> {
    const from = this.frames.length;
    this.send({ action: 'subscribe', payload: { topic } });
    return this.waitFrame(
      (f) => f.payload.topic === topic && (f.action === 'error' || (f.action === 'publish' && f.payload.method === 'CREATE')),
      from,
    );
  }

  /** Resolves with the first frame at or after index `from` matching the predicate. */
  async waitFrame(pred: (f: Frame) => boolean, from = 0, timeoutMs = 3000): Promise<Frame> {
    return waitFor(() => this.frames.slice(from).find(pred), { timeoutMs, what: 'a matching frame' });
  }

  /**
   * Round trip through the server: everything the server wrote before answering this ping has arrived
   * when the pong is here (one TCP stream, in order).
   */
  async sync(): Promise<void> {
    const from = this.frames.length;
    this.send({ action: 'heartbeat', payload: { message: { text: 'ping' } } });
    await this.waitFrame((f) => f.action === 'heartbeat' && f.payload.message?.text === 'pong', from);
  }

  /** Frames of a topic (publish and error), heartbeats excluded. */
  topicFrames(topic: string): Frame[] {
    return this.frames.filter((f) => f.payload.topic === topic);
  }

  /** Frames other than heartbeats, from index `from`. */
  dataFrames(from = 0): Frame[] {
    return this.frames.slice(from).filter((f) => f.action !== 'heartbeat');
  }

  async waitClosed(timeoutMs = 3000): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closeInfo, { timeoutMs, what: 'the socket to close' });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

/** Connects expecting a refusal: resolves with it, fails the test when the handshake is accepted. */
export async function refusedHandshake(url: string, headers?: Record<string, string>): Promise<HandshakeRefused> {
  try {
    const c = await TestClient.connect(url, { headers });
    c.close();
  } catch (err) {
    if (err instanceof HandshakeRefused) return err;
    throw err;
  }
  throw new Error('the handshake was accepted');
}
