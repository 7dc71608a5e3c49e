import * as f from './helpers/factories';
import { startTestApp, TestApp } from './helpers/test-app';

describe('smoke', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());

  it('delivers a created request to an owner subscribed to /P/requests', async () => {
    await app.ingestOk({ type: 'project_user.create', data: f.projectUser('p1', 'owner1', 'owner') });
    const c = await app.connect('owner1');
    const snap = await c.subscribe('/p1/requests');
    expect(snap.payload.message).toEqual([]);
    await app.ingestOk({ type: 'request.create', data: f.request('p1', 'r1', { status: 100 }) });
    const live = await c.waitFrame((fr) => fr.payload.method === 'CREATE' && !Array.isArray(fr.payload.message));
    expect(live.payload.message).toMatchObject({ request_id: 'r1', id: 'oid-r1', _id: 'oid-r1' });
  });
});
