import { randomBytes } from 'node:crypto';
import { createApp, RunningApp } from '../bootstrap';
import { AppConfig, loadConfig } from '../config/app-config';
import { IngestPipeline } from '../ingest/ingest-pipeline.service';
import { signUserToken } from './demo-tokens';
import { fullName, SimMember } from './tiledesk-documents';
import { TrafficDriver } from './traffic-driver';
import { TrafficSimulator } from './traffic-simulator';

export interface DemoOptions {
  /** Port to listen on (default: serviceEnv.PORT, else 3000; 0 picks a free one). */
  port?: number;
  /** Replays the same story; random (and printed) when absent. */
  seed?: string;
  /** Simulated envelopes per second (default 4). */
  eventsPerSecond?: number;
  /** Secret that signs and verifies the demo's tokens; random for this run when absent. */
  globalSecret?: string;
  /** Bearer token of POST /v1/events; random for this run when absent. */
  ingestToken?: string;
  /**
   * Other service settings, as loadConfig reads them (WS_SERVER_PATH, JWT_AUDIENCE, ...). LOG_LEVEL
   * defaults to warn so that the service's logs do not drown the demo's output.
   */
  serviceEnv?: Record<string, string | undefined>;
  /** A batch the service refused (a simulator bug); default: printed on stderr. */
  onError?: (err: unknown) => void;
}

export interface DemoUser {
  name: string;
  role: string;
  userId: string;
  projectUserId: string;
  /** A Tiledesk-like JWT for this user (no expiry). */
  token: string;
}

/** A simulated member as the banner prints it, with a token the service verifies with `secret`. */
export function demoUser(m: SimMember, secret: string, jwt: { audience?: string; issuer?: string } = {}): DemoUser {
  return {
    name: fullName(m),
    role: m.role,
    userId: m.userId,
    projectUserId: m.projectUserId,
    token: signUserToken(m, secret, jwt),
  };
}

export interface DemoHandle {
  running: RunningApp;
  config: AppConfig;
  projectId: string;
  botId: string;
  owner: DemoUser;
  supervisor: DemoUser;
  /** The agent the demo points at: it only sees its own requests. */
  agent: DemoUser;
  ingestToken: string;
  seed: string;
  eventsPerSecond: number;
  simulator: TrafficSimulator;
  traffic: TrafficDriver;
  /** The WebSocket URL a Tiledesk client would open: `ws://host:port<path>?token=JWT%20<jwt>`. */
  wsUrlFor(token: string, host?: string): string;
  /** Stops the traffic, then closes the service. */
  stop(): Promise<void>;
}

export const DEFAULT_DEMO_PORT = 3000;
export const DEFAULT_EVENTS_PER_SECOND = 4;
/** The demo's metrics window and service level target (its time runs fast: see startDemo). */
export const DEMO_METRICS_WINDOW_S = 60;
export const DEMO_TARGET_ANSWER_S = 10;
/** Until the first chat closes, the forecast assumes this handle time (the demo's chats last about half a minute). */
export const DEMO_DEFAULT_HANDLE_TIME_S = 30;

/**
 * Boots the real service on the memory engine and a traffic simulator feeding its ingest pipeline in
 * process (the same validate-apply-publish path as POST /v1/events). Used by `npm run demo` and its e2e test.
 */
export async function startDemo(opts: DemoOptions = {}): Promise<DemoHandle> {
  const globalSecret = opts.globalSecret || randomBytes(32).toString('hex');
  const ingestToken = opts.ingestToken || randomBytes(24).toString('hex');
  const eventsPerSecond = opts.eventsPerSecond ?? DEFAULT_EVENTS_PER_SECOND;
  const serviceEnv = opts.serviceEnv ?? {};
  const config = loadConfig({
    ...serviceEnv,
    LOG_LEVEL: serviceEnv.LOG_LEVEL || 'warn',
    // One process and no other replica to move to: a stop closes the demo's connections at once.
    SHUTDOWN_DRAIN_MS: serviceEnv.SHUTDOWN_DRAIN_MS || '0',
    // Any free port for Prometheus unless set, so a demo never fails for a service already on 9464 (the banner says where).
    METRICS_PORT: serviceEnv.METRICS_PORT || '0',
    // The demo plays a helpdesk's hour in minutes (chats handled in seconds): the metrics follow its pace, so a
    // burst shows in the flow and the forecast instead of being averaged over a quarter of an hour.
    METRICS_WINDOW_S: serviceEnv.METRICS_WINDOW_S || String(DEMO_METRICS_WINDOW_S),
    METRICS_TARGET_ANSWER_S: serviceEnv.METRICS_TARGET_ANSWER_S || String(DEMO_TARGET_ANSWER_S),
    METRICS_DEFAULT_HANDLE_TIME_S: serviceEnv.METRICS_DEFAULT_HANDLE_TIME_S || String(DEMO_DEFAULT_HANDLE_TIME_S),
    PORT: opts.port !== undefined ? String(opts.port) : serviceEnv.PORT || String(DEFAULT_DEMO_PORT),
    GLOBAL_SECRET: globalSecret,
    INGEST_TOKEN: ingestToken,
    // The demo signs its own HS256 tokens, and runs on one process: no public key, no Redis.
    GLOBAL_SECRET_OR_PUB_KEY: undefined,
    REDIS_URL: undefined,
    REDIS_CLUSTER_NODES: undefined,
  });
  const simulator = new TrafficSimulator({ seed: opts.seed });
  const running = await createApp(config);
  const pipeline = running.app.get(IngestPipeline);
  const traffic = new TrafficDriver(simulator, (batch) => pipeline.ingest(pipeline.validate(batch, 'demo'), Date.now(), 'demo'), {
    eventsPerSecond,
    onError: opts.onError ?? ((err) => process.stderr.write(`[demo] the service refused simulated events: ${String(err)}\n`)),
  });
  try {
    await traffic.start();
  } catch (err) {
    await running.close();
    throw err;
  }

  const user = (m: SimMember): DemoUser => demoUser(m, globalSecret, config.jwt);
  let stopping: Promise<void> | null = null;
  return {
    running,
    config,
    projectId: simulator.project.id,
    botId: simulator.bot.id,
    owner: user(simulator.owner),
    supervisor: user(simulator.supervisor),
    agent: user(simulator.agents[0]!),
    ingestToken,
    seed: simulator.seed,
    eventsPerSecond,
    simulator,
    traffic,
    wsUrlFor: (token, host = '127.0.0.1') => `ws://${host}:${running.port}${config.wsPath}?token=JWT%20${encodeURIComponent(token)}`,
    stop() {
      stopping ??= traffic.stop().then(() => running.close());
      return stopping;
    },
  };
}
