import * as f from './helpers/factories';
import { startTestApp, TestApp } from './helpers/test-app';
import { waitFor } from './helpers/wait-for';

/** protocol.md §5: per-topic order, and subscribe without a gap while events stream in. */
describe('ordering and gapless subscribe', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
    await app.ingestOk({ type: 'project_user.create', data: f.projectUser('op', 'owner', 'owner') });
  });
  afterAll(() => app.close());

  it('loses no event and sends none before the snapshot while subscribes race a stream of updates', async () => {
    const versions = 300;
    const docs = Array.from({ length: versions }, (_, i) => f.request('op', 'hot', { status: 200, seq: i, __v: i }));
    await app.ingestOk({ type: 'request.create', data: docs[0] });
    const clients = await Promise.all(Array.from({ length: 6 }, () => app.connect('owner')));
    // Ingest the stream one event per request, while the clients subscribe at staggered moments.
    const stream = (async () => {
      for (let i = 1; i < versions; i++) await app.ingestOk({ type: 'request.update', data: docs[i] });
    })();
    for (const c of clients) {
      await new Promise((resolve) => setImmediate(resolve));
      c.send({ action: 'subscribe', payload: { topic: '/op/requests/hot' } });
      c.send({ action: 'subscribe', payload: { topic: '/op/requests' } });
    }
    await stream;
    for (const c of clients) {
      await waitFor(() => c.topicFrames('/op/requests/hot').at(-1)?.payload.message.seq === versions - 1, { what: 'the last version' });
      await c.sync(); // the list frame of the last version goes out right after the single request's
      for (const topic of ['/op/requests/hot', '/op/requests']) {
        const frames = c.topicFrames(topic);
        expect(frames[0]!.payload.method).toBe('CREATE');
        const first = Array.isArray(frames[0]!.payload.message) ? frames[0]!.payload.message[0]?.seq : frames[0]!.payload.message.seq;
        const seqs = frames.slice(1).map((fr) => fr.payload.message.seq);
        // every version after the snapshot, each exactly once, in order
        expect(seqs).toEqual(Array.from({ length: versions - 1 - first }, (_, i) => first + 1 + i));
      }
    }
  });

  it('delivers the frames of one topic in the order events were applied, across concurrent batches', async () => {
    const c = await app.connect('owner');
    await c.subscribe('/op/requests');
    const batches = Array.from({ length: 10 }, (_, b) =>
      Array.from({ length: 20 }, (_, i) => ({ type: 'request.create', data: f.request('op', `b${b}-${i}`, { status: 100 }) })),
    );
    await Promise.all(batches.map((batch) => app.ingestOk(batch)));
    await c.sync();
    const got = c
      .topicFrames('/op/requests')
      .slice(1)
      .map((fr) => fr.payload.message.request_id);
    expect(got).toHaveLength(200);
    for (let b = 0; b < 10; b++) {
      const mine = got.filter((id: string) => id.startsWith(`b${b}-`));
      expect(mine).toEqual(Array.from({ length: 20 }, (_, i) => `b${b}-${i}`));
    }
  });
});
