import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { OutboundFrame } from '../fanout/outbound-frame';
import { FrameRateLimiter } from '../limits/frame-rate-limiter';
import { CLOSE_SLOW_CONSUMER, ClientConnection } from './client-connection';

const CAP = 1000;

/**
 * A socket whose unsent data is what the test says: every write stays unsent until `drain()` (a client that
 * stopped reading, with the kernel's buffers full), so the rule is checked without depending on how much a
 * loopback connection buffers on the machine that runs the test.
 */
class StuckSocket extends EventEmitter {
  writableLength = 0;
  get writableNeedDrain(): boolean {
    return this.writableLength > 0;
  }
  write(data: Buffer): boolean {
    this.writableLength += data.length;
    return false;
  }
  cork(): void {}
  uncork(): void {}
  drain(): void {
    this.writableLength = 0;
    this.emit('drain');
  }
}

function connection() {
  const socket = new StuckSocket();
  const closes: number[] = [];
  const ws = { OPEN: 1, readyState: 1, close: (code: number) => ((ws.readyState = 2), closes.push(code)) };
  const conn = new ClientConnection(
    'conn-1',
    ws as unknown as WebSocket,
    { userId: 'u1' },
    socket as unknown as Duplex,
    CAP,
    () => undefined,
    new FrameRateLimiter(20, 100, 0),
  );
  return { conn, socket, closes };
}

const frame = (topic: string, bytes: number) => OutboundFrame.of(JSON.stringify({ topic, pad: 'x'.repeat(bytes) }), topic);

describe('ClientConnection: unsent data and WS_MAX_BUFFERED_BYTES', () => {
  it('closes with 1013 once the unsent data of small frames passes the cap, and sends nothing more', () => {
    const { conn, socket, closes } = connection();
    for (let i = 0; i < 5; i++) conn.send(frame('/p/requests', 300));
    expect(closes).toEqual([CLOSE_SLOW_CONSUMER]);
    expect(socket.writableLength).toBeLessThanOrEqual(CAP + 400);
    conn.send(frame('/p/requests', 300));
    expect(closes).toHaveLength(1);
  });

  it('lets a frame bigger than the cap and the frames after it go out until the socket drains', () => {
    const { conn, socket, closes } = connection();
    conn.send(frame('/p/requests', 50_000));
    conn.send(frame('/p/requests/r1', 100));
    conn.send(frame('/p/requests/r1', 100));
    expect(closes).toEqual([]);
    socket.drain();
    conn.send(frame('/p/requests/r1', 100));
    expect(closes).toEqual([]);
  });

  it('lets big frames of different topics go out back to back (a dashboard subscribing to a few big lists)', () => {
    const { conn, closes } = connection();
    for (const p of ['a', 'b', 'c', 'd']) conn.send(frame(`/${p}/requests`, 50_000));
    conn.send(frame('/a/requests/r1', 100));
    expect(closes).toEqual([]);
  });

  it('closes a client that does not read and keeps asking for the same big snapshot, at the third', () => {
    const { conn, closes } = connection();
    conn.send(frame('/a/requests', 50_000));
    conn.send(frame('/a/requests', 50_000));
    expect(closes).toEqual([]);
    conn.send(frame('/a/requests', 50_000));
    expect(closes).toEqual([CLOSE_SLOW_CONSUMER]);
  });

  it('keeps the unsent data below the cap plus five of the largest frames, however many big topics', () => {
    const { conn, socket, closes } = connection();
    for (let i = 0; i < 50 && closes.length === 0; i++) conn.send(frame(`/p${i}/requests`, 50_000));
    expect(closes).toEqual([CLOSE_SLOW_CONSUMER]);
    expect(socket.writableLength).toBeLessThanOrEqual(CAP + 5 * 50_100);
  });
});
