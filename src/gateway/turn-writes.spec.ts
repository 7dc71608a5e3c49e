import { AddressInfo, Server, Socket, createConnection, createServer } from 'node:net';
import type { WebSocket } from 'ws';
import { OutboundFrame } from '../fanout/outbound-frame';
import { FrameRateLimiter } from '../limits/frame-rate-limiter';
import { CLOSE_SLOW_CONSUMER, ClientConnection } from './client-connection';
import { TurnWrites } from './turn-writes';

/**
 * Coalesced delivery on real loopback sockets: what reaches the kernel is observed on the server socket's
 * `_write` / `_writev` (each one write system call when the kernel takes it all, which loopback does for
 * these sizes), what reaches the client by reading the other end.
 */
describe('TurnWrites: the frames of one turn leave in one write', () => {
  let server: Server;
  const pairs: Array<{ near: Socket; far: Socket }> = [];

  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(() => {
    for (const { near, far } of pairs.splice(0)) {
      near.destroy();
      far.destroy();
    }
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  /** A connected pair: `near` is the server's socket (the ClientConnection writes to it), `far` the client's. */
  async function pair(): Promise<{ near: Socket; far: Socket }> {
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const far = createConnection((server.address() as AddressInfo).port, '127.0.0.1');
    const near = await accepted;
    near.on('error', () => undefined); // the gateway's sockets have their handler too
    pairs.push({ near, far });
    return { near, far };
  }

  function countWrites(socket: Socket): { writes: number; chunks: number } {
    const seen = { writes: 0, chunks: 0 };
    const s = socket as unknown as {
      _write: (chunk: Buffer, enc: string, cb: () => void) => void;
      _writev: (chunks: unknown[], cb: () => void) => void;
    };
    const write = s._write.bind(socket);
    const writev = s._writev.bind(socket);
    s._write = (chunk, enc, cb) => {
      seen.writes++;
      seen.chunks++;
      write(chunk, enc, cb);
    };
    s._writev = (chunks, cb) => {
      seen.writes++;
      seen.chunks += chunks.length;
      writev(chunks, cb);
    };
    return seen;
  }

  function connection(socket: Socket, turn: TurnWrites, cap = 4 * 1024 * 1024) {
    const closes: number[] = [];
    const ws = { OPEN: 1, readyState: 1, close: (code: number) => ((ws.readyState = 2), closes.push(code)) };
    const conn = new ClientConnection(
      'c',
      ws as unknown as WebSocket,
      { userId: 'u' },
      socket,
      cap,
      () => undefined,
      new FrameRateLimiter(20, 100, 0),
      undefined,
      turn,
    );
    return { conn, ws, closes };
  }

  const frame = (n: number, pad = 0) => OutboundFrame.of(JSON.stringify({ n, pad: 'x'.repeat(pad) }));
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

  /** Reads `far` until `bytes` bytes came, then parses the unmasked server frames (payloads < 64 KiB). */
  async function receive(far: Socket, bytes: number): Promise<number[]> {
    const chunks: Buffer[] = [];
    let got = 0;
    await new Promise<void>((resolve) => {
      const onData = (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (got >= bytes) {
          far.off('data', onData);
          resolve();
        }
      };
      far.on('data', onData);
    });
    const all = Buffer.concat(chunks);
    const out: number[] = [];
    for (let at = 0; at < all.length;) {
      let len = all[at + 1]!;
      let head = 2;
      if (len === 126) {
        len = all.readUInt16BE(at + 2);
        head = 4;
      }
      out.push((JSON.parse(all.subarray(at + head, at + head + len).toString()) as { n: number }).n);
      at += head + len;
    }
    return out;
  }

  it('writes the first frame of a turn at once and the rest of the turn with one system call at its end, in order', async () => {
    const counts: number[] = [];
    const turn = new TurnWrites((n) => counts.push(n));
    const { near, far } = await pair();
    const seen = countWrites(near);
    const { conn } = connection(near, turn);
    const frames = Array.from({ length: 40 }, (_, i) => frame(i, 600));
    for (const f of frames) conn.send(f);
    expect(seen).toEqual({ writes: 1, chunks: 1 }); // the first at once, the others held until the turn ends
    await nextTurn();
    expect(seen).toEqual({ writes: 2, chunks: 40 });
    expect(counts).toEqual([2]);
    // The next turn starts afresh: its first frame goes at once again.
    conn.send(frame(40));
    expect(seen.writes).toBe(3);
    const bytes = frames.reduce((sum, f) => sum + f.wire.length, 0) + frame(40).wire.length;
    expect(await receive(far, bytes)).toEqual([...frames.map((_, i) => i), 40]);
  });

  it('sends a lone frame at once, as an uncoalesced write would', async () => {
    const turn = new TurnWrites();
    const { near, far } = await pair();
    const seen = countWrites(near);
    const { conn } = connection(near, turn);
    const f = frame(7);
    conn.send(f);
    expect(seen.writes).toBe(1);
    await nextTurn();
    expect(seen.writes).toBe(1);
    expect(await receive(far, f.wire.length)).toEqual([7]);
  });

  it('keeps one write per connection and turn across many connections, each with its own frames in order', async () => {
    const turn = new TurnWrites();
    const conns: Array<{ near: Socket; far: Socket }> = [];
    for (let i = 0; i < 5; i++) conns.push(await pair()); // one at a time: accepted in the order connected
    const seen = conns.map(({ near }) => countWrites(near));
    const cs = conns.map(({ near }) => connection(near, turn).conn);
    // Interleaved as the fan-out does it: envelope by envelope, connection by connection.
    for (let e = 0; e < 10; e++) cs.forEach((c, i) => c.send(frame(i * 100 + e)));
    await nextTurn();
    expect(seen.map((s) => s.writes)).toEqual([2, 2, 2, 2, 2]);
    for (let i = 0; i < conns.length; i++) {
      const bytes = Array.from({ length: 10 }, (_, e) => frame(i * 100 + e).wire.length).reduce((a, b) => a + b, 0);
      expect(await receive(conns[i]!.far, bytes)).toEqual(Array.from({ length: 10 }, (_, e) => i * 100 + e));
    }
  });

  it('hands a big batch to the kernel every 64 KiB within the turn, so that held data stays small', async () => {
    const counts: number[] = [];
    const turn = new TurnWrites((n) => counts.push(n));
    const { near, far } = await pair();
    const seen = countWrites(near);
    const { conn } = connection(near, turn);
    const frames = Array.from({ length: 200 }, (_, i) => frame(i, 1000)); // ~200 KB
    for (const f of frames) conn.send(f);
    await nextTurn();
    expect(seen.chunks).toBe(200);
    expect(seen.writes).toBeGreaterThanOrEqual(3);
    expect(seen.writes).toBeLessThanOrEqual(5);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(seen.writes);
    const bytes = frames.reduce((sum, f) => sum + f.wire.length, 0);
    expect(await receive(far, bytes)).toEqual(frames.map((_, i) => i));
  });

  it('closes a slow consumer inside a batch and writes nothing for it after the close, while the others get the whole batch', async () => {
    const turn = new TurnWrites();
    const slow = await pair();
    const fast = await pair();
    // The slow one's unsent data stands over the cap before the batch (as if its reader had stopped).
    const stuck = slow.near as unknown as { writableLength: number };
    Object.defineProperty(stuck, 'writableLength', { get: () => 10_000 });
    const s = connection(slow.near, turn, 8192);
    const f = connection(fast.near, turn, 8192);
    const slowSeen = countWrites(slow.near);
    for (let e = 0; e < 10; e++) {
      s.conn.send(frame(e));
      f.conn.send(frame(e));
    }
    await nextTurn();
    expect(s.closes).toEqual([CLOSE_SLOW_CONSUMER]);
    expect(slowSeen.chunks).toBe(0);
    const bytes = Array.from({ length: 10 }, (_, e) => frame(e).wire.length).reduce((a, b) => a + b, 0);
    expect(await receive(fast.far, bytes)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('survives a connection whose socket is gone mid-batch, and still writes the other connections', async () => {
    const turn = new TurnWrites();
    const gone = await pair();
    const other = await pair();
    const g = connection(gone.near, turn);
    const o = connection(other.near, turn);
    g.conn.send(frame(1));
    o.conn.send(frame(1));
    gone.near.destroy(); // the client vanished while its frames were held
    g.ws.readyState = 3;
    g.conn.send(frame(2)); // after the close: dropped
    o.conn.send(frame(2));
    await nextTurn();
    expect(gone.near.destroyed).toBe(true);
    expect(await receive(other.far, frame(1).wire.length * 2)).toEqual([1, 2]);
  });
});
