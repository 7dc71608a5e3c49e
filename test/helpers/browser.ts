import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, BrowserContext, chromium, Locator, Page } from 'playwright-core';
import { dashboardPublicDir } from '../../src/dashboard/serve/dashboard-files';

/** Debian's Chromium: the browser tests never download one (STYLE.md, "Browser tests"). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** What `npm run build` writes and the service serves (found from the package root, also when compiled elsewhere). */
const DASHBOARD_INDEX = join(dashboardPublicDir(), 'index.html');

/**
 * Launches headless Chromium, or fails with what to install: a missing browser fails the suite, it never skips it.
 * The dashboard must be built too (npm test builds before jest runs).
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `the browser tests need Chromium at ${CHROMIUM_PATH}: install Debian's package "chromium" (apt-get install -y chromium; .ci/run does it)`,
    );
  }
  if (!existsSync(DASHBOARD_INDEX)) throw new Error(`${DASHBOARD_INDEX} is missing: run \`npm run build\` first (npm test does)`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ['--no-sandbox'] });
}

export interface DashboardPage {
  context: BrowserContext;
  page: Page;
  /**
   * What went wrong inside the page: uncaught exceptions, and Content-Security-Policy refusals (Chromium logs
   * "Refused to ..."). Failed requests and sockets are left out: a test that restarts the service expects them.
   */
  problems: string[];
  close(): Promise<void>;
}

/** Opens `/dashboard#token=...&project=...` of the service at `httpUrl` in a fresh context (its own sessionStorage). */
export async function openDashboard(
  browser: Browser,
  httpUrl: string,
  fragment: { token?: string; project?: string } = {},
  viewport = { width: 1280, height: 1000 },
): Promise<DashboardPage> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && msg.text().includes('Refused to')) problems.push(`csp: ${msg.text()}`);
  });
  const params = new URLSearchParams();
  if (fragment.token !== undefined) params.set('token', fragment.token);
  if (fragment.project !== undefined) params.set('project', fragment.project);
  const hash = params.toString();
  await page.goto(`${httpUrl}/dashboard${hash === '' ? '' : `#${hash}`}`);
  return { context, page, problems, close: () => context.close() };
}

/**
 * Waits until the text of `locator` (its first match) matches, as a person looking at the page would, and
 * answers it; on timeout the error names what was expected and what was last shown. playwright-core has no
 * auto-retrying expect (that is @playwright/test's), so this is it.
 */
export async function waitForText(
  locator: Locator,
  expected: string | RegExp | ((text: string) => boolean),
  timeoutMs = 10_000,
): Promise<string> {
  const matches = (t: string) =>
    typeof expected === 'string' ? t.trim() === expected : expected instanceof RegExp ? expected.test(t) : expected(t);
  const deadline = Date.now() + timeoutMs;
  let last: string | null = null;
  for (;;) {
    last = await locator
      .first()
      .textContent({ timeout: 250 })
      .catch(() => null);
    if (last !== null && matches(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${String(locator)} to show ${String(expected)}; it showed ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until `locator` matches a number of elements that satisfies `ok` (e.g. `(n) => n === 2`), and answers it. */
export async function waitForCount(locator: Locator, ok: (n: number) => boolean, what: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await locator.count();
    if (ok(n)) return n;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${String(locator)} matched ${n}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until an attribute of `locator` satisfies `ok`, and answers it. */
export async function waitForAttribute(
  locator: Locator,
  name: string,
  ok: (value: string | null) => boolean,
  timeoutMs = 10_000,
): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  let last: string | null = null;
  for (;;) {
    last = await locator.getAttribute(name, { timeout: 250 }).catch(() => null);
    if (ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${name} of ${String(locator)}; it was ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
