import { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { OutboundFrame } from '../../src/fanout/outbound-frame';

/**
 * Fan-out write cost, one process, loopback: N sockets, E events of a ~750-byte frame each, written either
 * with `ws.send(payload)` (a frame header built per socket, header + payload in one writev) or as the
 * service does it (`OutboundFrame`: the frame encoded once, one plain write of the same bytes per socket).
 * Prints server CPU (user + system) per frame written, measured around the write loop only.
 *
 *   node dist-bench/bench/micro/prepared-frames.js [sockets=3000] [events=40] [rounds=3]
 */

const [sockets = 3000, events = 40, rounds = 3] = process.argv.slice(2).map(Number);

async function main(): Promise<void> {
  const sockets_: Duplex[] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  const served: WebSocket[] = [];
  wss.on('connection', (ws, req) => {
    served.push(ws);
    sockets_.push(req.socket);
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const { port } = wss.address() as AddressInfo;
  let received = 0;
  const clients = await Promise.all(
    Array.from(
      { length: sockets },
      (_, i) =>
        new Promise<WebSocket>((resolve, reject) => {
          const c = new WebSocket(`ws://127.0.0.1:${port}/`, { localAddress: `127.0.0.${10 + (i % 200)}` });
          c.on('message', () => received++);
          c.once('open', () => resolve(c));
          c.once('error', reject);
        }),
    ),
  );
  while (served.length < sockets) await new Promise((r) => setTimeout(r, 10));
  const text = JSON.stringify({ topic: '/p/requests', method: 'UPDATE', message: { text: 'x'.repeat(700) } });
  const payload = Buffer.from(text);

  const measure = async (mode: 'ws.send' | 'prepared'): Promise<number> => {
    let cpuUs = 0;
    const target = received + sockets * events;
    for (let e = 0; e < events; e++) {
      const before = process.cpuUsage();
      if (mode === 'ws.send') for (const ws of served) ws.send(payload, { binary: false });
      else {
        const frame = OutboundFrame.of(text).wire;
        for (const s of sockets_) s.write(frame);
      }
      const used = process.cpuUsage(before);
      cpuUs += used.user + used.system;
      await new Promise((r) => setTimeout(r, 30)); // let the clients read: only the writes are timed
    }
    while (received < target) await new Promise((r) => setTimeout(r, 10));
    return cpuUs / (sockets * events);
  };

  for (let r = 0; r < rounds; r++) {
    const a = await measure('ws.send');
    const b = await measure('prepared');
    process.stdout.write(
      `round ${r + 1}: ws.send ${a.toFixed(2)} µs/frame, prepared frame ${b.toFixed(2)} µs/frame (${((b / a - 1) * 100).toFixed(1)} %)\n`,
    );
  }
  for (const c of clients) c.terminate();
  wss.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
