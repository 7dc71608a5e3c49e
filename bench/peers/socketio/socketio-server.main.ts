import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import Redis from 'ioredis';
import { Server } from 'socket.io';

/**
 * One process of the Socket.IO peer: what a Node team would build instead of our service. Socket.IO with its
 * default settings (websocket transport only, so every server speaks the same transport; no compression) and
 * `@socket.io/redis-adapter`, so a broadcast from any process reaches the clients of every process.
 *
 * - A client emits `subscribe` with a topic (any string) and an ack; the socket joins the room named by the
 *   topic. A client subscribes to several topics with one `subscribe` each.
 * - `POST /v1/events` takes our ingest envelopes (one or an array) and, like the raw `ws` peer, publishes every
 *   request.create / request.update on each of its two topics, `/<id_project>/requests` and
 *   `/<id_project>/requests/<request_id>`: one `publish` event per topic, to the room of that name, carrying that
 *   topic. Other types are accepted and ignored: the benchmarks only send these.
 * - The raw peer serializes an event only for a topic that has subscribers. Here the subscribers may sit on any
 *   process, so the processes share which rooms have ever had a member: the first `subscribe` to a topic (on
 *   any process) tells every other process (`serverSideEmitWithAck` through the adapter) before it is
 *   acknowledged, and a process broadcasts only to rooms it knows of. A room nobody joined therefore costs no
 *   encoding and no Redis PUBLISH (S1, S5 and S6 publish to `/<P>/requests` exactly as when that was the only
 *   topic); a room is never forgotten.
 * - `GET /healthz` answers 200 once the adapter listens on Redis.
 *
 * Configured by PORT and REDIS_URL.
 */

const PUBLISHED: Readonly<Record<string, 'CREATE' | 'UPDATE'>> = {
  'request.create': 'CREATE',
  request_create: 'CREATE',
  'request.update': 'UPDATE',
  request_update: 'UPDATE',
};

const MAX_BODY_BYTES = 16 * 1024 * 1024;

interface Publication {
  /** The topic, which is also the room's name. */
  room: string;
  method: 'CREATE' | 'UPDATE';
  message: unknown;
}

class BadRequest extends Error {}

function publicationsOf(body: unknown): { accepted: number; publications: Publication[] } {
  const envelopes: unknown[] = Array.isArray(body) ? body : [body];
  const publications: Publication[] = [];
  envelopes.forEach((envelope, index) => {
    if (typeof envelope !== 'object' || envelope === null) throw new BadRequest(`event ${index}: not an object`);
    const { type, data } = envelope as { type?: unknown; data?: unknown };
    if (typeof type !== 'string') throw new BadRequest(`event ${index}: type must be a string`);
    if (typeof data !== 'object' || data === null) throw new BadRequest(`event ${index}: data must be an object`);
    const method = PUBLISHED[type];
    if (method === undefined) return;
    const project = (data as { id_project?: unknown }).id_project;
    if (typeof project !== 'string') throw new BadRequest(`event ${index}: data.id_project must be a string`);
    // The raw ws peer's two topics; an event without a string request_id has only the first.
    const request = (data as { request_id?: unknown }).request_id;
    publications.push({ room: `/${project}/requests`, method, message: data });
    if (typeof request === 'string') publications.push({ room: `/${project}/requests/${request}`, method, message: data });
  });
  return { accepted: envelopes.length, publications };
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT);
  const redisUrl = process.env.REDIS_URL;
  if (!Number.isInteger(port) || port <= 0 || !redisUrl) throw new Error('PORT and REDIS_URL are required');

  const pubClient = new Redis(redisUrl);
  const subClient = pubClient.duplicate();
  for (const client of [pubClient, subClient]) client.on('error', (err: Error) => console.error(`redis: ${err.message}`));

  const httpServer = createServer();
  const io = new Server(httpServer, {
    transports: ['websocket'],
    perMessageDeflate: false,
    adapter: createAdapter(pubClient, subClient),
  });

  // Rooms some process has had a member in (this one's and those the others announced): the rooms worth a broadcast.
  const known = new Set<string>();
  const announcing = new Map<string, Promise<void>>();
  io.on('room', (topic: unknown, done?: unknown) => {
    if (typeof topic === 'string') known.add(topic);
    if (typeof done === 'function') done(true);
  });
  // Resolves once every other process knows the room (one announcement at a time per room).
  const announce = (topic: string): Promise<void> => {
    let pending = announcing.get(topic);
    if (!pending) {
      pending = io
        .serverSideEmitWithAck('room', topic)
        .then(() => {
          known.add(topic);
        })
        .finally(() => announcing.delete(topic));
      announcing.set(topic, pending);
    }
    return pending;
  };

  io.on('connection', (socket) => {
    socket.on('subscribe', (topic: unknown, ack?: unknown) => {
      const reply = (answer: { ok: true } | { error: string }): void => {
        if (typeof ack === 'function') ack(answer);
      };
      if (typeof topic !== 'string') return reply({ error: 'topic must be a string' });
      const join = (): void => {
        void socket.join(topic);
        reply({ ok: true });
      };
      // A known room (every subscribe after a topic's first): joined and acknowledged at once, as before rooms were announced.
      if (known.has(topic)) return join();
      announce(topic).then(
        () => {
          if (socket.connected) join();
        },
        (err: unknown) => reply({ error: `room not announced: ${String((err as Error).message ?? err)}` }),
      );
    });
  });

  const ingest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const text = await readBody(req);
    if (text === null) return answer(res, 413, { error: 'payload too large' });
    try {
      const { accepted, publications } = publicationsOf(JSON.parse(text));
      for (const p of publications) {
        if (known.has(p.room)) io.to(p.room).emit('publish', { topic: p.room, method: p.method, message: p.message });
      }
      answer(res, 202, { accepted });
    } catch (err) {
      if (err instanceof SyntaxError || err instanceof BadRequest) return answer(res, 400, { error: err.message });
      throw err;
    }
  };

  // Socket.IO answers its own path (/socket.io/) and hands every other request to these listeners.
  httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'POST' && path === '/v1/events') {
      ingest(req, res).catch((err: unknown) => {
        console.error(err);
        if (!res.headersSent) answer(res, 500, { error: 'internal' });
      });
    } else if (req.method === 'GET' && path === '/healthz') {
      answer(res, 200, { ok: true });
    } else {
      answer(res, 404, { error: 'not found' });
    }
  });

  // The adapter subscribes on construction; a PING on the same connection is answered after that subscription
  // is in place, so no broadcast from another process can be missed once this one listens.
  await subClient.ping();
  await new Promise<void>((resolve) => httpServer.listen(port, '127.0.0.1', resolve));

  const shutdown = (): void => {
    void io.close().finally(() => {
      pubClient.disconnect();
      subClient.disconnect();
      process.exit(0);
    });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
