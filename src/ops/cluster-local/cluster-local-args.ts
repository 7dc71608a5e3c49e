import { NotARun, parseCommandLine } from '../../cli/cli-args';
import { DEFAULT_CLUSTER_PORT } from './cluster-local';

export interface ClusterLocalArgs {
  /** The proxy's port on 127.0.0.1 (0: a free one). */
  port: number;
  /** Run the simulated helpdesk against the cluster, over HTTPS ingest through the proxy. */
  demo: boolean;
  /** With --demo: envelopes per second. */
  eventsPerSecond: number;
  seed: string | undefined;
}

export type ParsedClusterLocalArgs = { ok: true; args: ClusterLocalArgs } | NotARun;

export const DEFAULT_DEMO_EVENTS_PER_S = 4;

export const CLUSTER_LOCAL_USAGE = `Usage: npm run cluster:local [-- --demo]

Starts the docker-compose topology without Docker: redis-server, two replicas (dist/main.js) and Debian's
haproxy on deploy/proxy/haproxy.cfg terminating TLS with a self-signed certificate, all on 127.0.0.1.
  --demo        feed a simulated helpdesk into it over HTTPS ingest through the proxy
  --help, -h    this text
Environment: CLUSTER_PORT (the proxy's port, default ${DEFAULT_CLUSTER_PORT}; 0 picks a free one), DEMO_EVENTS_PER_S,
DEMO_SEED, and any service setting for the replicas (GLOBAL_SECRET and INGEST_TOKEN are random unless set).`;

/** Parses the command line and the few variables that are cluster:local's own (the rest go to the replicas). */
export function parseClusterLocalArgs(argv: string[], env: Record<string, string | undefined>): ParsedClusterLocalArgs {
  const line = parseCommandLine(argv, { demo: { type: 'boolean', default: false } }, CLUSTER_LOCAL_USAGE);
  if (!line.ok) return line;
  const { values } = line;
  const problems: string[] = [];
  let port = DEFAULT_CLUSTER_PORT;
  const rawPort = env.CLUSTER_PORT?.trim();
  if (rawPort) {
    port = /^\d+$/.test(rawPort) ? Number(rawPort) : NaN;
    if (!(port >= 0 && port <= 65535))
      problems.push(`CLUSTER_PORT: must be a port number from 0 to 65535 (got ${JSON.stringify(env.CLUSTER_PORT)})`);
  }
  let eventsPerSecond = DEFAULT_DEMO_EVENTS_PER_S;
  const rawRate = env.DEMO_EVENTS_PER_S?.trim();
  if (rawRate) {
    eventsPerSecond = Number(rawRate);
    if (!(eventsPerSecond > 0 && eventsPerSecond <= 10_000)) {
      problems.push(
        `DEMO_EVENTS_PER_S: must be a number of events per second above 0 and at most 10000 (got ${JSON.stringify(env.DEMO_EVENTS_PER_S)})`,
      );
    }
  }
  if (problems.length > 0) return { ok: false, help: false, message: problems.join('\n') };
  return { ok: true, args: { port, demo: values.demo, eventsPerSecond, seed: env.DEMO_SEED?.trim() || undefined } };
}
