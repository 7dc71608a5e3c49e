import * as f from './helpers/factories';
import { scrape, series } from './helpers/metrics-scrape';
import { startTestApp, TestApp } from './helpers/test-app';
import { until, waitFor } from './helpers/wait-for';

/**
 * Coalesced delivery as an operator and a client see it: the frames a connection gets in one event-loop turn
 * (here: one HTTP batch, applied and published within one turn by the memory engine) leave in two writes (the first at once, the rest together at the end of the turn)
 * (`realtime_socket_writes_total` against `realtime_frames_out_total`), in the order of the batch, and a
 * connection that goes away in the middle costs nobody else a frame. The slow-consumer rules inside a batch are
 * in slow-consumer.e2e-spec.ts (its batches of 20 big frames), the write path itself in turn-writes.spec.ts.
 */
describe('coalesced delivery', () => {
  const P = 'coal-p';
  let app: TestApp;

  beforeEach(async () => {
    app = await startTestApp();
    await app.ingestOk([
      { type: 'project.update', data: f.project(P) },
      { type: 'project_user.update', data: f.projectUser(P, 'owner-a', 'owner') },
      { type: 'project_user.update', data: f.projectUser(P, 'owner-b', 'owner') },
    ]);
  });
  afterEach(() => app.close());

  /** 20 requests created, then each updated twice, interleaved: 60 events whose frames must keep this order. */
  function batch(tag: string) {
    const events: Array<{ type: string; data: unknown }> = [];
    for (let v = 0; v < 3; v++) {
      for (let i = 0; i < 20; i++) {
        events.push({
          type: v === 0 ? 'request.create' : 'request.update',
          data: f.request(P, `${tag}-${i}`, { status: 200, __v: v, note: `${tag}-${i}-v${v}` }),
        });
      }
    }
    return events;
  }

  const writesAndFrames = async () => {
    const all = await scrape(app.metricsPort);
    return { writes: series(all, 'realtime_socket_writes_total'), frames: series(all, 'realtime_frames_out_total', { action: 'publish' }) };
  };

  it('writes the frames of one batch to a subscriber with two system calls, in the order of the batch', async () => {
    const client = await app.connect('owner-a');
    await client.subscribe(`/${P}/requests`);
    await client.sync();
    const before = await writesAndFrames();
    const from = client.frames.length;
    const events = batch('b1');
    await app.ingestOk(events);
    await waitFor(() => client.frames.length - from >= events.length, { what: 'the batch at the client' });
    const got = client.frames.slice(from).map((fr) => `${fr.payload.method} ${fr.payload.message.note}`);
    expect(got).toEqual(events.map((e, i) => `${i < 20 ? 'CREATE' : 'UPDATE'} ${(e.data as { note: string }).note}`));
    const after = await writesAndFrames();
    expect(after.frames - before.frames).toBe(events.length);
    // Two writes for the batch's 60 frames: the first frame at once, the 59 others at the end of the turn.
    expect(after.writes - before.writes).toBe(2);
  });

  it('keeps delivering whole batches to the others when a connection goes away mid-batch', async () => {
    const stays = await app.connect('owner-a');
    const leaves = await app.connect('owner-b');
    await stays.subscribe(`/${P}/requests`);
    await leaves.subscribe(`/${P}/requests`);
    const from = stays.frames.length;
    const first = batch('m1');
    const second = batch('m2');
    // The client drops its TCP connection while the server is about to write it a batch.
    const sent = app.ingestOk(first);
    leaves.close();
    await sent;
    await app.ingestOk(second);
    await waitFor(() => stays.frames.length - from >= first.length + second.length, { what: 'both batches at the client that stayed' });
    const notes = stays.frames.slice(from).map((fr) => fr.payload.message.note);
    expect(notes).toEqual([...first, ...second].map((e) => (e.data as { note: string }).note));
    await until(async () => (await scrape(app.metricsPort)).get('realtime_connections_open') === 1, 'the connection that left forgotten');
    // The service is whole: a new subscriber gets a snapshot with every request of both batches.
    const late = await app.connect('owner-b');
    const snapshot = await late.subscribe(`/${P}/requests`);
    expect((snapshot.payload.message as unknown[]).length).toBe(40);
  });
});
