import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/**
 * The practical limit for Node: a minimal topic server on `ws`. `Map<topic, Set<socket>>`, the same
 * subscribe frame as our protocol (answered with an empty snapshot so that clients know they are
 * subscribed), and `POST /v1/events` taking our envelopes: each request event is serialized once per topic
 * that has subscribers (`/<P>/requests` and `/<P>/requests/<request_id>`) and the same buffer is written to
 * every subscriber. No authentication, no filtering, no store, no backpressure handling: whatever our service
 * spends above this is the price of what it does and this does not.
 */

const REQUEST_METHODS: Record<string, 'CREATE' | 'UPDATE'> = {
  'request.create': 'CREATE',
  request_create: 'CREATE',
  'request.update': 'UPDATE',
  request_update: 'UPDATE',
};

export interface RawWsPeer {
  port: number;
  server: Server;
  close(): Promise<void>;
}

export function startRawWsPeer(opts: { port?: number; host?: string } = {}): Promise<RawWsPeer> {
  const topics = new Map<string, Set<WebSocket>>();

  const publish = (topic: string, method: string, message: unknown) => {
    const subscribers = topics.get(topic);
    if (!subscribers || subscribers.size === 0) return;
    const frame = Buffer.from(JSON.stringify({ action: 'publish', payload: { topic, method, message } }));
    for (const ws of subscribers) if (ws.readyState === WebSocket.OPEN) ws.send(frame, { binary: false });
  };

  const ingest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"code":"bad_request","message":"not JSON"}}');
        return;
      }
      const envelopes = Array.isArray(body) ? body : [body];
      let accepted = 0;
      for (const env of envelopes as Array<{ type?: unknown; data?: Record<string, unknown> }>) {
        const method = typeof env?.type === 'string' ? REQUEST_METHODS[env.type] : undefined;
        const data = env?.data;
        if (!method || !data) continue;
        publish(`/${String(data.id_project)}/requests`, method, data);
        publish(`/${String(data.id_project)}/requests/${String(data.request_id)}`, method, data);
        accepted++;
      }
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted, duplicates: 0, stale: 0 }));
    });
  };

  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/v1/events') return ingest(req, res);
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
  wss.on('connection', (ws) => {
    const mine = new Set<string>();
    ws.on('message', (data: WebSocket.RawData) => {
      let frame: { action?: unknown; payload?: { topic?: unknown } };
      try {
        frame = JSON.parse((data as Buffer).toString()) as typeof frame;
      } catch {
        return;
      }
      const topic = frame.payload?.topic;
      if (frame.action === 'subscribe' && typeof topic === 'string') {
        let set = topics.get(topic);
        if (!set) topics.set(topic, (set = new Set()));
        set.add(ws);
        mine.add(topic);
        ws.send(JSON.stringify({ action: 'publish', payload: { topic, method: 'CREATE', message: [] } }));
      } else if (frame.action === 'unsubscribe' && typeof topic === 'string') {
        topics.get(topic)?.delete(ws);
        mine.delete(topic);
      } else if (frame.action === 'heartbeat') {
        ws.send('{"action":"heartbeat","payload":{"message":{"text":"pong"}}}');
      }
    });
    ws.on('close', () => {
      for (const t of mine) {
        const set = topics.get(t);
        set?.delete(ws);
        if (set?.size === 0) topics.delete(t);
      }
    });
    ws.on('error', () => undefined);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        server,
        close: () =>
          new Promise<void>((done) => {
            wss.close();
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

if (require.main === module) {
  const portArg = process.argv.indexOf('--port');
  const port = portArg >= 0 ? Number(process.argv[portArg + 1]) : 0;
  startRawWsPeer({ port }).then(
    (peer) => {
      if (process.send) process.send({ type: 'ready', port: peer.port });
      else process.stdout.write(`raw ws peer listening on 127.0.0.1:${peer.port}\n`);
      process.on('disconnect', () => process.exit(0));
      process.on('SIGTERM', () => process.exit(0));
    },
    (err) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
