import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DemoHandle, startDemo } from '../../src/demo/demo-launcher';
import { packageRoot } from '../../src/dashboard/serve/dashboard-files';
import { launchBrowser, openDashboard, waitForAttribute, waitForText } from '../helpers/browser';

/**
 * `npm run screenshot`: starts the demo (the service and its simulated traffic), opens the dashboard with the
 * owner's token in headless Chromium, waits until the figures are live, the chart has a minute of points and the
 * demo is well into one of its arrival bursts (a queue to look at), and saves docs/dashboard.png. The README's
 * picture is taken this way, never drawn.
 */

const POINTS = 60;
const METRICS_INTERVAL_MS = 1000;
/** Requests waiting before the picture is taken, once the demo is in a rush. */
const QUEUE = 4;

async function main(): Promise<void> {
  const out = join(packageRoot(__dirname), 'docs', 'dashboard.png');
  let demo: DemoHandle | null = null;
  const browser = await launchBrowser();
  try {
    demo = await startDemo({
      port: 0,
      seed: 'docs-screenshot',
      eventsPerSecond: 6,
      serviceEnv: { LOG_LEVEL: 'silent', METRICS_INTERVAL_MS: String(METRICS_INTERVAL_MS) },
    });
    const d = await openDashboard(
      browser,
      demo.running.httpUrl,
      { token: demo.owner.token, project: demo.projectId },
      { width: 1360, height: 900 },
    );
    await waitForText(d.page.getByTestId('connection-state'), 'Live');
    await waitForText(d.page.getByTestId('tile-open').locator('.value'), (t) => Number(t) > 0, 30_000);
    process.stdout.write(`screenshot: waiting for ${POINTS} chart points (about ${(POINTS * METRICS_INTERVAL_MS) / 1000} s)\n`);
    await waitForAttribute(d.page.getByTestId('chart'), 'data-points', (v) => Number(v) >= POINTS, POINTS * METRICS_INTERVAL_MS * 3);
    const sim = demo.simulator;
    process.stdout.write(`screenshot: waiting for a rush with ${QUEUE} requests waiting\n`);
    await waitForText(d.page.getByTestId('tile-waiting').locator('.value'), (t) => sim.inBurst() && Number(t) >= QUEUE, 180_000);
    // Deep enough into the rush that the forecast shows it: some probability of waiting, or the overload.
    process.stdout.write('screenshot: waiting for the forecast to feel the rush\n');
    await waitForText(d.page.getByTestId('forecast-p-wait'), (t) => sim.inBurst() && parseFloat(t) >= 1, 180_000);
    if (d.problems.length > 0) throw new Error(`the page reported problems: ${d.problems.join('; ')}`);
    mkdirSync(join(out, '..'), { recursive: true });
    await d.page.screenshot({ path: out, fullPage: true });
    process.stdout.write(`screenshot: saved ${out}\n`);
    await d.close();
  } finally {
    await browser.close();
    await demo?.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`screenshot failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
