import { demoUser, DemoUser } from '../../demo/demo-launcher';
import type { SimMember } from '../../demo/tiledesk-documents';
import { TrafficDriver } from '../../demo/traffic-driver';
import { TrafficSimulator } from '../../demo/traffic-simulator';
import { PinnedHttps } from './pinned-https';

export interface HttpDemoTrafficOptions {
  /** The service as clients reach it, e.g. `https://127.0.0.1:8443` (the proxy). */
  baseUrl: string;
  ingestToken: string;
  /** Signs the printed users' tokens; the replicas verify with the same secret. */
  globalSecret: string;
  /** PEM of the certificate to trust (the proxy's self-signed one); the system's CAs when absent. */
  ca?: string;
  eventsPerSecond: number;
  seed?: string;
  jwtAudience?: string;
  jwtIssuer?: string;
  /** A batch the service refused; the traffic keeps going. */
  onError: (err: unknown) => void;
}

export interface HttpDemoTraffic {
  simulator: TrafficSimulator;
  driver: TrafficDriver;
  projectId: string;
  owner: DemoUser;
  agent: DemoUser;
  /** Stops the traffic and waits for the batch in flight. */
  stop(): Promise<void>;
}

/**
 * The demo's simulated helpdesk, sent over HTTPS ingest (`POST /v1/events` with the service token) instead of
 * into an in-process pipeline: what docker-compose's `demo-traffic` service and `cluster:local --demo` run,
 * so the events cross the proxy, a replica, Redis and the other replica like Tiledesk's would.
 */
export async function startHttpDemoTraffic(opts: HttpDemoTrafficOptions): Promise<HttpDemoTraffic> {
  const https = new PinnedHttps(opts.ca);
  const simulator = new TrafficSimulator({ seed: opts.seed });
  const driver = new TrafficDriver(simulator, (batch) => https.ingest(opts.baseUrl, opts.ingestToken, batch), {
    eventsPerSecond: opts.eventsPerSecond,
    onError: opts.onError,
  });
  try {
    await driver.start();
  } catch (err) {
    https.close();
    throw err;
  }
  const user = (m: SimMember): DemoUser => demoUser(m, opts.globalSecret, { audience: opts.jwtAudience, issuer: opts.jwtIssuer });
  let stopping: Promise<void> | null = null;
  return {
    simulator,
    driver,
    projectId: simulator.project.id,
    owner: user(simulator.owner),
    agent: user(simulator.agents[0]!),
    stop() {
      stopping ??= driver.stop().finally(() => https.close());
      return stopping;
    },
  };
}
