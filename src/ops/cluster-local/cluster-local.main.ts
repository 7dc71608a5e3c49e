import { DEMO_DEFAULT_HANDLE_TIME_S, DEMO_METRICS_WINDOW_S, DEMO_TARGET_ANSWER_S } from '../../demo/demo-launcher';
import { signUserToken } from '../../demo/demo-tokens';
import { BannerUser, CLUSTER_OWNER, CLUSTER_PROJECT_ID, formatClusterBanner } from './cluster-local-banner';
import { CLUSTER_LOCAL_USAGE, parseClusterLocalArgs } from './cluster-local-args';
import { ClusterLocal, startClusterLocal } from './cluster-local';
import { HttpDemoTraffic, startHttpDemoTraffic } from './http-demo-traffic';

/**
 * `npm run cluster:local [-- --demo]`: docker-compose.yml's topology on this machine (see cluster-local.ts),
 * a banner with what to paste, and an ordered stop on Ctrl-C. Like every entry point it reads the environment
 * here and hands it on: CLUSTER_PORT and DEMO_* are its own, everything else goes to the replicas.
 */

const STATUS_EVERY_MS = 10_000;

function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const parsed = parseClusterLocalArgs(process.argv.slice(2), process.env);
  if (!parsed.ok) {
    if (parsed.help) {
      process.stdout.write(`${parsed.message}\n`);
      process.exit(0);
    }
    fail(`${parsed.message}\n\n${CLUSTER_LOCAL_USAGE}`, 2);
  }
  const { args } = parsed;
  const env = { ...process.env };
  if (args.demo) {
    // The demo plays a helpdesk's hour in minutes: its metrics follow that pace unless set (as `npm run demo`).
    env.METRICS_WINDOW_S ||= String(DEMO_METRICS_WINDOW_S);
    env.METRICS_TARGET_ANSWER_S ||= String(DEMO_TARGET_ANSWER_S);
    env.METRICS_DEFAULT_HANDLE_TIME_S ||= String(DEMO_DEFAULT_HANDLE_TIME_S);
  }
  const log = (line: string) => process.stderr.write(`[cluster] ${line}\n`);
  log('starting redis-server, two replicas and haproxy on 127.0.0.1');

  let cluster: ClusterLocal;
  try {
    cluster = await startClusterLocal({
      port: args.port,
      env,
      // Redis's start-up chatter is left out; should it exit, its last output is printed below.
      onOutput: (name, line) => {
        if (name !== 'redis') process.stderr.write(`[${name}] ${line}\n`);
      },
    });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }

  let traffic: HttpDemoTraffic | null = null;
  if (args.demo) {
    try {
      traffic = await startHttpDemoTraffic({
        baseUrl: cluster.httpsUrl,
        ingestToken: cluster.ingestToken,
        globalSecret: cluster.globalSecret,
        ca: cluster.certPem,
        eventsPerSecond: args.eventsPerSecond,
        seed: args.seed,
        jwtAudience: env.JWT_AUDIENCE,
        jwtIssuer: env.JWT_ISSUER,
        onError: (err) => log(`a batch of simulated events was not accepted: ${err instanceof Error ? err.message : String(err)}`),
      });
    } catch (err) {
      await cluster.stop();
      fail(`[cluster] the simulated traffic could not start: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  const owner: BannerUser = traffic
    ? traffic.owner
    : {
        name: `${CLUSTER_OWNER.firstname} ${CLUSTER_OWNER.lastname}`,
        projectUserId: `pu-${CLUSTER_PROJECT_ID}-owner`,
        token: signUserToken(CLUSTER_OWNER, cluster.globalSecret, { audience: env.JWT_AUDIENCE, issuer: env.JWT_ISSUER }),
      };
  process.stdout.write(
    formatClusterBanner({
      httpsUrl: cluster.httpsUrl,
      wssUrl: cluster.wssUrl,
      certFile: cluster.certFile,
      configFile: cluster.proxy.configFile,
      ingestToken: cluster.ingestToken,
      redisUrl: cluster.redis.url,
      proxyPid: cluster.proxy.process.pid,
      replicas: cluster.replicas.map((r) => ({ name: r.name, port: r.port, pid: r.process.pid })),
      drainMs: cluster.drainMs,
      projectId: traffic ? traffic.projectId : CLUSTER_PROJECT_ID,
      owner,
      ...(traffic
        ? {
            demo: {
              eventsPerSecond: args.eventsPerSecond,
              seed: traffic.simulator.seed,
              agent: traffic.agent,
              metricsWindowS: env.METRICS_WINDOW_S!,
              targetAnswerS: env.METRICS_TARGET_ANSWER_S!,
            },
          }
        : {}),
    }) + '\n',
  );

  let stopping = false;
  const status = setInterval(() => {
    if (!traffic) return;
    const t = traffic.driver.stats();
    log(`events sent ${t.sent}, applied ${t.accepted}, duplicate ${t.duplicates}, stale ${t.stale}, failed ${t.failed}`);
  }, STATUS_EVERY_MS);

  const stopAll = async (why: string, code: number): Promise<never> => {
    stopping = true;
    clearInterval(status);
    log(`${why}: stopping (replicas drain for up to ${cluster.drainMs} ms, then the proxy, then Redis; Ctrl-C again to stop at once)`);
    await traffic?.stop();
    await cluster.stop();
    log('stopped');
    process.exit(code);
  };

  // A replica going away is what the topology is for (kill one and watch the clients move): say so and keep
  // going. Without the proxy or Redis nothing works any more: stop the rest.
  for (const r of cluster.replicas) {
    void r.process.waitExit().then(() => {
      if (stopping) return;
      const other = cluster.replicas.find((o) => o !== r)!;
      log(
        `${r.name} exited (${r.process.proc.signalCode ?? `code ${r.process.proc.exitCode}`}): the proxy sends its clients to ${other.name}` +
          (other.process.exited ? ', which is gone too: nothing serves now' : ''),
      );
    });
  }
  for (const [name, proc] of [
    ['haproxy', cluster.proxy.process],
    ['redis-server', cluster.redis.process],
  ] as const) {
    void proc.waitExit().then(() => {
      if (stopping) return;
      log(`${name} exited unexpectedly:\n${proc.output.trim()}`);
      return stopAll(`${name} is gone`, 1);
    });
  }

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log(`${signal} again: killing everything now`);
      cluster.killNow();
      process.exit(1);
    }
    void stopAll(signal, 0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

main().catch((err: unknown) => {
  process.stderr.write(`[cluster] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
