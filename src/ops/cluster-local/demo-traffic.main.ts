import { readFileSync } from 'node:fs';
import { startHttpDemoTraffic } from './http-demo-traffic';
import { PinnedHttps } from './pinned-https';

/**
 * docker-compose.yml's `demo-traffic` service (profile `demo`): the demo's simulated helpdesk sent to the
 * cluster over HTTPS ingest through the proxy, as Tiledesk would send its events. It prints the dashboard and
 * WebSocket URLs with the owner's and an agent's tokens as a user opens them (PUBLIC_URL).
 *
 *   INGEST_URL          where the proxy is from inside compose (default https://proxy:8443)
 *   PUBLIC_URL          where it is from the browser (default https://localhost)
 *   INGEST_CA_FILE      the proxy's certificate to trust (compose: /certs/realtime.crt)
 *   INGEST_TOKEN, GLOBAL_SECRET, JWT_AUDIENCE, JWT_ISSUER   the replicas' values
 *   DEMO_EVENTS_PER_S (default 4), DEMO_SEED
 */

function fail(message: string): never {
  process.stderr.write(`[demo-traffic] ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const env = process.env;
  const problems: string[] = [];
  const ingestToken = env.INGEST_TOKEN?.trim();
  const globalSecret = env.GLOBAL_SECRET?.trim();
  if (!ingestToken) problems.push('INGEST_TOKEN: required (the service token of POST /v1/events, as the replicas have it)');
  if (!globalSecret) problems.push('GLOBAL_SECRET: required (the printed tokens are signed with it)');
  const rate = Number(env.DEMO_EVENTS_PER_S?.trim() || '4');
  if (!(rate > 0 && rate <= 10_000))
    problems.push(`DEMO_EVENTS_PER_S: must be above 0 and at most 10000 (got ${JSON.stringify(env.DEMO_EVENTS_PER_S)})`);
  let ca: string | undefined;
  if (env.INGEST_CA_FILE) {
    try {
      ca = readFileSync(env.INGEST_CA_FILE, 'utf8');
    } catch (err) {
      problems.push(`INGEST_CA_FILE: cannot read ${env.INGEST_CA_FILE} (${(err as Error).message})`);
    }
  }
  if (problems.length > 0) fail(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  const baseUrl = (env.INGEST_URL || 'https://proxy:8443').replace(/\/+$/, '');
  const publicUrl = (env.PUBLIC_URL || 'https://localhost').replace(/\/+$/, '');

  // The proxy may still be starting, or have no replica ready yet: wait for it rather than fail the first batch.
  const probe = new PinnedHttps(ca, false);
  try {
    await probe.waitReady(baseUrl, 120_000);
  } catch (err) {
    fail((err as Error).message);
  } finally {
    probe.close();
  }

  const traffic = await startHttpDemoTraffic({
    baseUrl,
    ingestToken: ingestToken!,
    globalSecret: globalSecret!,
    ca,
    eventsPerSecond: rate,
    seed: env.DEMO_SEED?.trim() || undefined,
    jwtAudience: env.JWT_AUDIENCE || undefined,
    jwtIssuer: env.JWT_ISSUER || undefined,
    onError: (err) =>
      process.stderr.write(`[demo-traffic] a batch was not accepted: ${err instanceof Error ? err.message : String(err)}\n`),
  });
  const p = traffic.projectId;
  const wss = publicUrl.replace(/^http/, 'ws');
  const dashboard = (token: string) => `${publicUrl}/dashboard#token=${encodeURIComponent(token)}&project=${encodeURIComponent(p)}`;
  process.stdout.write(
    [
      '',
      `demo traffic: about ${rate} events/s into ${baseUrl}, seed ${traffic.simulator.seed}`,
      `Dashboard as the owner ${traffic.owner.name}, then as the agent ${traffic.agent.name}:`,
      `  ${dashboard(traffic.owner.token)}`,
      `  ${dashboard(traffic.agent.token)}`,
      'WebSocket URL as the owner:',
      `  ${wss}/?token=JWT%20${encodeURIComponent(traffic.owner.token)}`,
      '',
    ].join('\n') + '\n',
  );
  const status = setInterval(() => {
    const t = traffic.driver.stats();
    process.stdout.write(
      `[demo-traffic] sent ${t.sent}, applied ${t.accepted}, duplicate ${t.duplicates}, stale ${t.stale}, failed ${t.failed}\n`,
    );
  }, 30_000);
  const stop = (): void => {
    clearInterval(status);
    void traffic.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err)));
