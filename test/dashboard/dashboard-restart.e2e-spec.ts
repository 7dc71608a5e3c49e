import type { Browser } from 'playwright-core';
import { DashboardPage, launchBrowser, openDashboard, waitForText } from '../helpers/browser';
import { freePort } from '../helpers/redis-server';
import { startTestApp, TestApp } from '../helpers/test-app';
import { userToken } from '../helpers/tokens';
import { P, request, seedTeam } from './dashboard-fixtures';

/** The service goes away and comes back on the same address: the page says it is reconnecting, then is live again. */
describe('the dashboard across a service restart', () => {
  let browser: Browser;
  let app: TestApp | null = null;
  let dashboard: DashboardPage | null = null;

  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await dashboard?.close();
    await app?.close();
    await browser?.close();
  });

  it('shows reconnecting while the service is down, then live data again without a reload', async () => {
    const port = String(await freePort());
    const env = { PORT: port, METRICS_INTERVAL_MS: '200' };
    app = await startTestApp(env);
    await seedTeam(app);
    await app.ingestOk({ type: 'request.create', data: request('before', { status: 100, lead: 'Bea Before', text: 'First life' }) });
    dashboard = await openDashboard(browser, app.httpUrl, { token: userToken('owner'), project: P });
    const { page } = dashboard;
    const waitingTile = page.getByTestId('tile-waiting').locator('.value');
    await waitForText(page.getByTestId('connection-state'), 'Live');
    await waitForText(waitingTile, '1');
    await waitForText(page.getByTestId('reconnects'), '0 reconnects');

    await app.close();
    app = null;
    await waitForText(page.getByTestId('connection-state'), 'Reconnecting…');

    // A new process on the same port: the memory engine starts empty, and the service is fed again.
    app = await startTestApp(env);
    await seedTeam(app);
    await app.ingestOk([
      { type: 'request.create', data: request('after-1', { status: 100, lead: 'Ann After', text: 'Second life' }) },
      { type: 'request.create', data: request('after-2', { status: 100, lead: 'Al After', text: 'Second life too' }) },
    ]);
    await waitForText(page.getByTestId('connection-state'), 'Live', 20_000);
    await waitForText(page.getByTestId('reconnects'), '1 reconnect');
    // The snapshots after the reconnect replaced what the page had: the old request is gone, the new ones are live.
    await waitForText(waitingTile, '2');
    await waitForText(page.getByTestId('waiting-group').locator('h3'), 'Waiting (2)');
    expect(await page.locator('[data-request="before"]').count()).toBe(0);
    await app.ingestOk({ type: 'request.create', data: request('after-3', { status: 100, lead: 'Ava After', text: 'Still live' }) });
    await waitForText(waitingTile, '3');
    expect(dashboard.problems).toEqual([]);
  });
});
