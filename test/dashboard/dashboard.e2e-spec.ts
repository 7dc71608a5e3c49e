import type { Browser } from 'playwright-core';
import { DashboardPage, launchBrowser, openDashboard, waitForAttribute, waitForCount, waitForText } from '../helpers/browser';
import { startTestApp, TestApp } from '../helpers/test-app';
import { userToken } from '../helpers/tokens';
import { member, P, request, seedTeam } from './dashboard-fixtures';

/**
 * The dashboard in a real browser against the real service: what a lead and an agent see, and how it changes as
 * events are ingested. Metrics are published every 200 ms here.
 */
describe('the dashboard in a browser', () => {
  let browser: Browser;
  let app: TestApp;
  let opened: DashboardPage[] = [];

  const open = async (token: string, project: string | null = P) => {
    const d = await openDashboard(browser, app.httpUrl, project === null ? { token } : { token, project });
    opened.push(d);
    return d;
  };

  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    app = await startTestApp({ METRICS_INTERVAL_MS: '200', JWT_CLOCK_SKEW_S: '0' });
    await seedTeam(app);
  });
  afterEach(async () => {
    // Nothing went wrong inside the pages: no uncaught error, nothing the Content-Security-Policy refused.
    const problems = opened.flatMap((d) => d.problems);
    for (const d of opened) await d.close();
    opened = [];
    await app.close();
    expect(problems).toEqual([]);
  });

  it('shows a lead the tiles, forecast, requests, agents and chart, and follows what is ingested without a reload', async () => {
    const first = request('r1', { status: 100, lead: 'Wendy Waiting', text: 'My parcel is late' });
    await app.ingestOk([
      { type: 'request.create', data: first },
      { type: 'request.create', data: request('r2', { status: 200, lead: 'Arthur Assigned', text: 'Refund please', agents: ['ada'] }) },
      { type: 'project_user.update', data: member('ada', 'agent', { number_assigned_requests: 1 }) },
    ]);
    const { page } = await open(userToken('owner'));
    const tile = (id: string) => page.getByTestId(`tile-${id}`).locator('.value');

    await waitForText(page.getByTestId('connection-state'), 'Live');
    await waitForAttribute(page.getByTestId('project-view'), 'data-view', (v) => v === 'team');
    await waitForText(tile('open'), '2');
    await waitForText(tile('waiting'), '1');
    // The owner is an agent-type member too.
    await waitForText(tile('available'), '3');
    await waitForText(tile('away'), '1');
    await waitForText(tile('utilization'), /%/);
    // The oldest wait ticks in the page between frames.
    const firstWait = await waitForText(tile('oldest-wait'), /\d/);
    await waitForText(tile('oldest-wait'), (t) => t !== firstWait);

    // Waiting first, with the lead's name, first text and wait; then grouped under the agent's name.
    const waiting = page.getByTestId('waiting-group').getByTestId('request-row');
    await waitForText(waiting, /Wendy Waiting\s*My parcel is late\s*waiting \d/);
    const adaGroup = page.locator('[data-testid="agent-group"][data-agent="ada"]');
    await waitForText(adaGroup.locator('h3'), 'Ada Agent (1)');
    await waitForText(adaGroup.getByTestId('request-row'), /Arthur Assigned\s*Refund please\s*assigned/);

    // The agents the requests name, live from their project_user topic.
    const agentRow = (id: string) => page.locator(`[data-testid="agent-row"][data-agent="${id}"]`);
    await waitForText(agentRow('ada').getByTestId('agent-status'), 'available');
    await waitForText(agentRow('ada').getByTestId('agent-load'), '1/~2');

    // The forecast and the chart.
    await waitForText(page.getByTestId('forecast-p-wait'), /%/);
    await waitForText(page.getByTestId('forecast-slots'), /\d+ needed, \d+ available/);
    const points = Number(await waitForAttribute(page.getByTestId('chart'), 'data-points', (v) => Number(v) >= 1));
    expect(await page.locator('[data-testid="chart"] canvas').count()).toBeGreaterThan(0);

    // Events arrive: the waiting request is taken by Bob, who becomes busy; a new one waits; Ada's is closed.
    await app.ingestOk([
      {
        type: 'request.update',
        data: request('r1', { status: 200, lead: 'Wendy Waiting', text: 'My parcel is late', agents: ['bob'], createdAt: first.createdAt }),
      },
      { type: 'project_user.update', data: member('bob', 'agent', { number_assigned_requests: 2 }) },
      { type: 'request.create', data: request('r3', { status: 100, lead: 'Nina New', text: 'Where is my invoice?' }) },
      { type: 'request.update', data: request('r2', { status: 1000, lead: 'Arthur Assigned', text: 'Refund please', agents: ['ada'] }) },
    ]);
    await waitForText(tile('open'), '2');
    await waitForText(tile('busy'), '1');
    await waitForText(waiting, /Nina New\s*Where is my invoice\?/);
    await waitForCount(page.locator('[data-request="r2"]'), (n) => n === 0, 'the closed request to leave the list');
    const bobGroup = page.locator('[data-testid="agent-group"][data-agent="bob"]');
    await waitForText(bobGroup.locator('h3'), 'Bob Builder (1)');
    await waitForText(agentRow('bob').getByTestId('agent-status'), 'busy');
    await waitForAttribute(page.getByTestId('chart'), 'data-points', (v) => Number(v) > points);
  });

  it('recomputes the staffing what-if in the page as the sliders move, and calls overload out plainly', async () => {
    await app.ingestOk([{ type: 'request.create', data: request('r1', { status: 100, lead: 'Wendy Waiting', text: 'Hello' }) }]);
    const { page } = await open(userToken('owner'));
    await waitForText(page.getByTestId('what-if-agents'), '3');
    const live = await waitForText(page.getByTestId('what-if-slots'), /needed/);

    const agents = page.getByLabel('Available agents');
    await agents.focus();
    await page.keyboard.press('Home');
    await waitForText(page.getByTestId('what-if-agents'), '0');
    await waitForText(page.getByTestId('what-if-overloaded'), /Overloaded/);
    await waitForText(page.getByTestId('what-if-expected-wait'), 'grows without end');

    await page.keyboard.press('End');
    await waitForCount(page.getByTestId('what-if-overloaded'), (n) => n === 0, 'the overload to go with more agents');
    expect(await page.getByTestId('what-if-slots').textContent()).not.toBe(live);
    // Back to the live values.
    await page.getByRole('button', { name: 'Back to the live values' }).click();
    await waitForText(page.getByTestId('what-if-agents'), '3');
  });

  it('shows an agent its own view: its requests, its own status, and no metrics it may not see', async () => {
    await app.ingestOk([
      { type: 'request.create', data: request('mine', { status: 200, lead: 'Mia Mine', text: 'Thanks Ada', agents: ['ada'] }) },
      { type: 'request.create', data: request('theirs', { status: 200, lead: 'Theo Theirs', text: 'For Bob', agents: ['bob'] }) },
      { type: 'request.create', data: request('queued', { status: 100, lead: 'Quinn Queue', text: 'Anyone?' }) },
      { type: 'project_user.update', data: member('ada', 'agent', { number_assigned_requests: 1 }) },
    ]);
    const { page } = await open(userToken('ada'));
    await waitForText(page.getByTestId('connection-state'), 'Live');
    await waitForAttribute(page.getByTestId('project-view'), 'data-view', (v) => v === 'member');
    await waitForText(page.getByRole('heading', { name: /Your requests/ }), /Your requests\s*\(1\)/);
    await waitForText(page.getByTestId('request-row'), /Mia Mine\s*Thanks Ada/);
    await waitForText(page.getByTestId('my-status').getByTestId('agent-status'), 'available');
    await waitForText(page.getByTestId('my-status').locator('.who'), 'Ada Agent (you)');
    // Its requests are listed under its own name, from its own project_user (the member view follows no one else).
    await waitForText(page.getByTestId('agent-group').locator('h3'), 'Ada Agent (1)');

    // Live: Ada goes away; a second request is assigned to her.
    await app.ingestOk([
      { type: 'project_user.update', data: member('ada', 'agent', { user_available: false, number_assigned_requests: 2 }) },
      { type: 'request.update', data: request('queued', { status: 200, lead: 'Quinn Queue', text: 'Anyone?', agents: ['ada'] }) },
    ]);
    await waitForText(page.getByTestId('my-status').getByTestId('agent-status'), 'away');
    await waitForCount(page.getByTestId('request-row'), (n) => n === 2, "Ada's two requests");
    expect(await page.locator('[data-request="theirs"]').count()).toBe(0);
    // No metrics: no tiles, no forecast, no chart, and no refusal either (the page did not ask).
    expect(await page.locator('[data-testid^="tile-"]').count()).toBe(0);
    expect(await page.getByTestId('chart').count()).toBe(0);
    expect(await page.getByTestId('forecast').count()).toBe(0);
    expect(await page.getByTestId('notice-metrics-forbidden').count()).toBe(0);
    expect(await page.locator('[data-testid="agent-row"]').count()).toBe(1);
  });

  it('says plainly when the token has expired, at sign-in and while connected', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await open(userToken('owner', { exp: now - 60 }));
    await waitForText(expired.page.getByTestId('sign-in-message'), 'Your session expired — sign in again.');
    await expired.page.getByLabel('Your token').waitFor();

    // Valid for a few more seconds: live first, then the service closes the socket (4001) and the page says why.
    // Ten seconds, not three: on a loaded 2-core CI machine the page alone can take three to open and connect.
    const expiring = await open(userToken('owner', { exp: Math.floor(Date.now() / 1000) + 10 }));
    await waitForText(expiring.page.getByTestId('connection-state'), 'Live');
    await waitForText(expiring.page.getByTestId('sign-in-message'), 'Your session expired — sign in again.', 15_000);

    // Signing in again with a fresh token brings the dashboard back.
    await expiring.page.getByLabel('Your token').fill(`JWT ${userToken('owner')}`);
    await expiring.page.getByRole('button', { name: 'Sign in' }).click();
    await waitForText(expiring.page.getByTestId('connection-state'), 'Live');
  });

  it('says when the member may not see metrics, a project has no data yet, and a token is not a member', async () => {
    // A supervisor-like member without analytics rights who still sees every request.
    await app.ingestOk([
      { type: 'project_user.create', data: member('reader', 'custom', { roleType: 1, permissions: ['request_read_all'] }) },
      { type: 'project.update', data: { _id: 'empty', name: 'Empty', status: 100, settings: {}, updatedAt: new Date().toISOString() } },
      { type: 'project_user.create', data: { ...member('owner', 'owner'), _id: 'pu-empty-owner', id_project: 'empty' } },
    ]);
    // Without /v1/me/projects' answer the page would ask for the metrics and be refused; with it, it does not ask.
    const reader = await open(userToken('reader'));
    await waitForAttribute(reader.page.getByTestId('project-view'), 'data-view', (v) => v === 'member');
    await waitForText(reader.page.getByTestId('connection-state'), 'Live');

    const empty = await open(userToken('owner'), 'empty');
    await waitForText(empty.page.getByTestId('notice-no-data'), /No data for this project yet/);

    const stranger = await open(userToken('stranger'), P);
    await waitForText(stranger.page.getByTestId('notice-no-projects'), /not an active member of any project/);
  });

  it('lets a member with several projects pick one', async () => {
    await app.ingestOk([
      {
        type: 'project.update',
        data: { _id: 'other', name: 'Other desk', status: 100, settings: {}, updatedAt: new Date().toISOString() },
      },
      { type: 'project_user.create', data: { ...member('owner', 'owner'), _id: 'pu-other-owner', id_project: 'other' } },
      { type: 'request.create', data: request('r1', { status: 100, lead: 'Wendy Waiting', text: 'Hello' }) },
    ]);
    const { page } = await open(userToken('owner'), null);
    await waitForText(page.getByText('Choose a project.'), 'Choose a project.');
    await page.getByTestId('project-picker').selectOption(P);
    await waitForText(page.getByRole('heading', { level: 1 }), /Support/);
    await waitForText(page.getByTestId('tile-waiting').locator('.value'), '1');
    // The address bar keeps the project, never the token.
    expect(new URL(page.url()).hash).toBe(`#project=${P}`);
  });
});
