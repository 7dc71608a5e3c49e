import 'reflect-metadata';
import { ConfigError } from '../config/app-config';
import { formatDemoBanner, formatStatusLine } from './demo-banner';
import { DEFAULT_EVENTS_PER_SECOND, DemoHandle, startDemo } from './demo-launcher';

/**
 * `npm run demo`: the service plus simulated Tiledesk traffic, with ready-to-paste URLs and commands.
 * Like any entry point it hands an explicit environment to loadConfig (config/ validates it); the demo's
 * own knobs are DEMO_EVENTS_PER_S and DEMO_SEED. GLOBAL_SECRET and INGEST_TOKEN are random unless set.
 */

const STATUS_EVERY_MS = 10_000;

function eventsPerSecond(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_EVENTS_PER_SECOND;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 10_000) {
    process.stderr.write(`DEMO_EVENTS_PER_S: must be a number of events per second between 0 and 10000 (got ${JSON.stringify(raw)})\n`);
    process.exit(1);
  }
  return n;
}

async function main(): Promise<void> {
  const env = process.env;
  let demo: DemoHandle;
  try {
    demo = await startDemo({
      seed: env.DEMO_SEED || undefined,
      eventsPerSecond: eventsPerSecond(env.DEMO_EVENTS_PER_S),
      globalSecret: env.GLOBAL_SECRET,
      ingestToken: env.INGEST_TOKEN,
      serviceEnv: { ...env },
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  process.stdout.write(formatDemoBanner(demo) + '\n');
  const status = setInterval(() => process.stdout.write(formatStatusLine(demo) + '\n'), STATUS_EVERY_MS);

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (stopping) return;
    stopping = true;
    clearInterval(status);
    process.stdout.write(`\n[demo] ${signal}: stopping the traffic and closing the service\n${formatStatusLine(demo)}\n`);
    // The service's own shutdown hook (bootstrap enables Nest's) closes the app and ends the process; here
    // the traffic stops first, synchronously, so nothing is ingested into a closing app.
    const traffic = demo.traffic.stop();
    if (process.listenerCount(signal) === 0) {
      void traffic.then(() => demo.stop()).then(() => process.exit(0));
    }
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

main().catch((err: unknown) => {
  process.stderr.write(`[demo] failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
