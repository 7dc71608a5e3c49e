import { RedisProcess } from '../../lib/processes';
import { connectSocketIoClient, startSocketIoPeer } from './socketio-peer';

/**
 * Hand-run check of the Socket.IO peer (jest does not look in bench/): a throwaway redis-server, two peer
 * processes, on each a client of the project topic `/p1/requests`, and on process 1 a client of the two
 * request topics `/p1/requests/r1` and `/p1/requests/r3` (S2's kind of client); a request.update of r1
 * ingested on process 0 and a request.create of r2 on process 1. The project clients must get both, in
 * order; the request client only r1's, on its own topic (r3 sees nothing), as from the raw ws peer.
 * Exits 0 and prints OK, or exits 1 with the reason. From the repository root, after `tsc -p bench/tsconfig.json`
 * (which `npm run bench` runs):
 *
 *   node dist-bench/bench/peers/socketio/socketio-peer.check.js
 */

const DEADLINE_MS = 10_000;

async function ingest(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = (await res.json()) as { accepted?: number };
  const count = Array.isArray(body) ? body.length : 1;
  if (res.status !== 202 || answer.accepted !== count) throw new Error(`ingest answered ${res.status} ${JSON.stringify(answer)}`);
}

async function waitFor(done: () => boolean, state: () => unknown): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not done after ${DEADLINE_MS} ms: ${JSON.stringify(state())}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function main(): Promise<void> {
  const redis = await RedisProcess.start();
  const peer = await startSocketIoPeer({ redisUrl: redis.url });
  const clients: { close(): void }[] = [];
  try {
    const topic = '/p1/requests';
    const requestTopics = ['/p1/requests/r1', '/p1/requests/r3'];
    // One client of the project topic on each process, then one of two request topics on process 1.
    const subscriptions = [...peer.urls.map((url) => ({ url, topics: [topic] })), { url: peer.urls[1]!, topics: requestTopics }];
    const received: string[][] = subscriptions.map(() => []);
    for (const [i, s] of subscriptions.entries()) {
      clients.push(await connectSocketIoClient(s.url, s.topics, (text) => received[i]!.push(text), '127.0.0.2'));
    }

    // One event through each process (an array on process 0, a single envelope on process 1): each project client
    // gets both, in order; the second one arriving also shows the first was not delivered twice.
    const first = { _id: 'oid-r1', request_id: 'r1', id_project: 'p1', status: 200, bench_ts: Date.now() };
    const second = { _id: 'oid-r2', request_id: 'r2', id_project: 'p1', status: 100, bench_ts: Date.now() };
    await ingest(peer.ingestUrl(0), [{ type: 'request.update', data: first }]);
    await waitFor(
      () => received.every((frames) => frames.length >= 1),
      () => received,
    );
    await ingest(peer.ingestUrl(1), { type: 'request.create', data: second });
    await waitFor(
      () => received.slice(0, peer.urls.length).every((frames) => frames.length >= 2),
      () => received,
    );
    // r2's event went out after r1's, so by now anything wrongly sent to the request client would be there.

    const projectFrames = [
      ['publish', { topic, method: 'UPDATE', message: first }],
      ['publish', { topic, method: 'CREATE', message: second }],
    ];
    const expected = [...peer.urls.map(() => projectFrames), [['publish', { topic: requestTopics[0], method: 'UPDATE', message: first }]]];
    for (const [i, frames] of received.entries()) {
      // The raw packet text is the socket.io EVENT type (2) followed by the JSON array.
      const packets = frames.map((text) => JSON.parse(text.slice(1)) as unknown);
      const who = `client of ${subscriptions[i]!.topics.join(' + ')} on ${subscriptions[i]!.url}`;
      if (JSON.stringify(packets) !== JSON.stringify(expected[i])) throw new Error(`${who} got ${JSON.stringify(frames)}`);
      console.log(`${who} got:\n  ${frames.join('\n  ')}`);
    }
    console.log('OK');
  } finally {
    for (const c of clients) c.close();
    await peer.stop();
    await redis.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
