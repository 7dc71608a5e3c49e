import type { Browser } from 'playwright-core';
import { launchBrowser, openDashboard, waitForText } from '../helpers/browser';
import { startTestApp, TestApp } from '../helpers/test-app';
import { userToken } from '../helpers/tokens';
import { P, request, seedTeam } from './dashboard-fixtures';

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** How the service serves the page: its headers, its assets (all from the service), its WebSocket path, TLS. */
describe('GET /dashboard', () => {
  let browser: Browser;
  let app: TestApp;

  beforeAll(async () => {
    browser = await launchBrowser();
    app = await startTestApp({ WS_SERVER_PATH: '/realtime/ws', METRICS_INTERVAL_MS: '200' });
    await seedTeam(app);
  });
  afterAll(async () => {
    await app?.close();
    await browser?.close();
  });

  it('answers the page at /dashboard and /dashboard/, with a strict CSP, revalidated each time', async () => {
    for (const path of ['/dashboard', '/dashboard/']) {
      const res = await fetch(`${app.httpUrl}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toBe(CSP);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('etag')).toEqual(expect.any(String));
    }
  });

  it('loads nothing from elsewhere and nothing inline: one script and one stylesheet of its own, cached for good', async () => {
    const html = await (await fetch(`${app.httpUrl}/dashboard`)).text();
    expect(html).toContain('<meta name="realtime-ws-path" content="/realtime/ws" />');
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.filter((r) => r !== 'data:,')).toEqual([
      expect.stringMatching(/^\/dashboard\/app-\w{8}\.css$/),
      expect.stringMatching(/^\/dashboard\/app-\w{8}\.js$/),
    ]);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/<style|\sstyle=|\son\w+=/);
    for (const ref of refs.filter((r) => r.startsWith('/dashboard/'))) {
      const res = await fetch(`${app.httpUrl}${ref}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type')).toBe(ref.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
      const body = await res.text();
      // uPlot's styles are bundled in; no URL of another host is fetched by the page.
      if (ref.endsWith('.css')) expect(body).toContain('.uplot');
      expect(body).not.toMatch(/(?:src|href)=["']?https?:\/\//);
    }
  });

  it('answers 404 for anything else under /dashboard/', async () => {
    for (const path of [
      '/dashboard/nope.js',
      '/dashboard/index.html',
      '/dashboard/..%2Fpackage.json',
      '/dashboard/.hidden.js',
      '/dashboard/x/y',
    ]) {
      const res = await fetch(`${app.httpUrl}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
    }
  });

  it("connects to the service's WS_SERVER_PATH from the page", async () => {
    await app.ingestOk({ type: 'request.create', data: request('r1', { status: 100, lead: 'Wendy Waiting', text: 'Hello' }) });
    const d = await openDashboard(browser, app.httpUrl, { token: userToken('owner'), project: P });
    try {
      await waitForText(d.page.getByTestId('connection-state'), 'Live');
      await waitForText(d.page.getByTestId('tile-waiting').locator('.value'), '1');
      expect(d.problems).toEqual([]);
    } finally {
      await d.close();
    }
  });
});

describe('GET /dashboard with REQUIRE_TLS', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ REQUIRE_TLS: 'true', TRUST_PROXY: 'loopback' });
  });
  afterAll(() => app?.close());

  it('refuses plain HTTP with 426, as /v1 does, and serves what a trusted proxy says arrived over TLS', async () => {
    const plain = await fetch(`${app.httpUrl}/dashboard`);
    expect(plain.status).toBe(426);
    expect(await plain.json()).toMatchObject({ error: { code: 'tls_required' } });
    const proxied = await fetch(`${app.httpUrl}/dashboard`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(proxied.status).toBe(200);
  });
});
