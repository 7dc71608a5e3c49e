import proxyaddr from 'proxy-addr';
import { z } from 'zod';
import { MetricsSettings } from '../analytics/project-metrics';

/**
 * Every setting the service reads, validated once at start. This is the only module that looks at
 * process.env (see loadConfig); the rest of the code receives a typed AppConfig.
 */

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^-?\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { message: `must be at least ${min}` })
        .max(max, { message: `must be at most ${max}` }),
    );

/** A decimal strictly between 0 and 1 (a share), e.g. 0.8. */
const fraction = z
  .string()
  .regex(/^(0?\.\d+|0|1(\.0*)?)$/, { message: 'must be a decimal number between 0 and 1' })
  .transform(Number)
  .pipe(z.number().gt(0, { message: 'must be more than 0' }).lt(1, { message: 'must be less than 1' }));

/** `host:port,host:port,…` (REDIS_CLUSTER_NODES, REDIS_SENTINELS); parsed by hostPorts(). */
const hostPortList = z
  .string()
  .regex(/^\s*[^\s,:]+:\d+\s*(,\s*[^\s,:]+:\d+\s*)*$/, { message: 'must be a comma-separated list of host:port' })
  .optional();

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const optionalText = z
  .string()
  .transform((v) => (v.trim() === '' ? undefined : v))
  .optional();

const envSchema = z.object({
  PORT: int(0, 65535).default(3000),
  LISTEN_BACKLOG: int(1, 65_535).default(4096),
  WS_SERVER_PATH: z
    .string()
    .regex(/^\/[^?#\s]*$/, { message: 'must be a path starting with /' })
    .default('/'),
  GLOBAL_SECRET: optionalText,
  GLOBAL_SECRET_OR_PUB_KEY: optionalText,
  JWT_AUDIENCE: optionalText,
  JWT_ISSUER: optionalText,
  JWT_CLOCK_SKEW_S: int(0, 3600).default(30),
  INGEST_TOKEN: optionalText,
  INGEST_MAX_BATCH: int(1, 100_000).default(500),
  INGEST_MAX_EVENT_BYTES: int(256).default(262_144),
  INGEST_MAX_BODY_BYTES: int(1024).default(8 * 1024 * 1024),
  INGEST_DEDUPE_TTL_S: int(0).default(3600),
  CLOSED_REQUEST_TTL_S: int(0).default(86_400),
  EVENTS_TTL_S: int(1).default(3600),
  WS_HISTORY_REQUESTS_LIMIT: int(1, 100_000).default(100),
  WS_HISTORY_MESSAGES_LIMIT: int(1, 100_000).default(300),
  WS_HISTORY_EVENTS_LIMIT: int(1, 100_000).default(20),
  WS_HEARTBEAT_INTERVAL_MS: int(100).default(30_000),
  WS_MAX_PAYLOAD_BYTES: int(128).default(65_536),
  WS_MAX_BUFFERED_BYTES: int(1024).default(4 * 1024 * 1024),
  SHUTDOWN_DRAIN_MS: int(0, 600_000).default(10_000),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, { message: 'must be a redis:// or rediss:// URL' })
    .optional(),
  REDIS_CLUSTER_NODES: hostPortList,
  REDIS_SENTINELS: hostPortList,
  REDIS_SENTINEL_MASTER: optionalText,
  REDIS_WAIT_REPLICAS: int(0, 16).default(0),
  REDIS_WAIT_TIMEOUT_MS: int(1, 60_000).default(1000),
  REDIS_PREFIX: z
    .string()
    .min(1)
    .regex(/^[^{}\s]+$/, { message: 'must not contain braces or spaces (braces are Redis Cluster hash tags)' })
    .default('rt:'),
  INGEST_CLAIM_IDLE_MS: int(100).default(30_000),
  INGEST_STREAM_MAXLEN: int(1).default(100_000),
  RATE_CONN_PER_USER_PER_MIN: int(1).default(60),
  RATE_CONN_PER_IP_PER_MIN: int(1).default(600),
  MAX_CONN_PER_USER: int(1).default(50),
  MAX_CONN_PER_PROJECT: int(1).default(20_000),
  RATE_FRAMES_PER_S: int(1).default(20),
  RATE_FRAMES_BURST: int(1).default(100),
  MAX_SUBSCRIPTIONS_PER_CONN: int(1).default(1000),
  INGEST_RATE_PER_S: int(1).default(200),
  API_RATE_PER_S: int(1).default(20),
  METRICS_PORT: int(0, 65535).default(9464),
  AMQP_URL: z
    .string()
    .regex(/^amqps?:\/\//, { message: 'must be an amqp:// or amqps:// URL' })
    .optional(),
  AMQP_QUEUE: z.string().min(1).max(255).default('tiledesk-realtime'),
  AMQP_PREFETCH: int(1, 10_000).default(50),
  DELETE_TOMBSTONE_TTL_S: int(0).optional(),
  TRUST_PROXY: z
    .string()
    .transform((v, ctx) => {
      const parsed = parseTrustProxy(v);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    })
    .optional(),
  TLS_CERT_FILE: optionalText,
  TLS_KEY_FILE: optionalText,
  REQUIRE_TLS: bool.default(false),
  METRICS_INTERVAL_MS: int(50, 3_600_000).default(2000),
  METRICS_WINDOW_S: int(60, 86_400).default(900),
  METRICS_DEFAULT_HANDLE_TIME_S: int(1, 86_400).default(600),
  METRICS_ASSUMED_CONCURRENCY: int(1, 1000).default(3),
  METRICS_TARGET_ANSWER_S: int(1, 86_400).default(60),
  METRICS_TARGET_LEVEL: fraction.default(0.8),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/**
 * TRUST_PROXY, with Express's `trust proxy` semantics: `true` trusts every hop, a number trusts that many
 * hops in front of the service, a list of addresses or subnets (and the names `loopback`, `linklocal`,
 * `uniquelocal`) trusts those peers; unset or `false` trusts none.
 */
export type TrustProxy = boolean | number | readonly string[];

/** Limits of operations.md §3, each named after its variable. */
export type LimitsConfig = Readonly<{
  connPerUserPerMin: number;
  connPerIpPerMin: number;
  maxConnPerUser: number;
  maxConnPerProject: number;
  framesPerS: number;
  framesBurst: number;
  maxSubscriptionsPerConn: number;
  ingestPerS: number;
  /** API_RATE_PER_S: `GET /v1/projects/<P>/metrics` and `GET /v1/me/projects` requests per second per token. */
  apiPerS: number;
}>;

export type AppConfig = Readonly<{
  port: number;
  /** Pending TCP connections the kernel queues before accept (capped by net.core.somaxconn). */
  listenBacklog: number;
  /** On SIGTERM, connections are closed spread over this window (operations.md §5). */
  shutdownDrainMs: number;
  wsPath: string;
  jwt: Readonly<{
    /** PEM public key (GLOBAL_SECRET_OR_PUB_KEY, literal \n turned into newlines) or shared secret. */
    publicKey?: string;
    secret?: string;
    audience?: string;
    issuer?: string;
    clockSkewS: number;
  }>;
  ingest: Readonly<{
    token?: string;
    maxBatch: number;
    maxEventBytes: number;
    maxBodyBytes: number;
    dedupeTtlS: number;
  }>;
  retention: Readonly<{
    closedRequestTtlS: number;
    eventsTtlS: number;
    /** How long a delete keeps an older update or create of the deleted document out (default: closedRequestTtlS). */
    tombstoneTtlS: number;
  }>;
  limits: LimitsConfig;
  /** AMQP_URL: consume Tiledesk's `ws` fan-out exchange (ingest.md §2.3) through the durable queue AMQP_QUEUE. */
  amqp?: Readonly<{ url: string; queue: string; prefetch: number }>;
  /** METRICS_PORT: Prometheus `/metrics`, on a port of its own (0: any free one). */
  metricsPort: number;
  /** METRICS_*: the `/P/metrics` topic (analytics.md); `intervalMs`: the shortest time between two UPDATEs of a project. */
  metrics: MetricsSettings & { intervalMs: number };
  /** Serve https/wss from these PEM files (re-read when they change). */
  tls?: Readonly<{ certFile: string; keyFile: string }>;
  /** Refuse handshakes and API calls that did not arrive over TLS (own TLS, or a trusted proxy's X-Forwarded-Proto). */
  requireTls: boolean;
  trustProxy: TrustProxy;
  history: Readonly<{ requests: number; messages: number; events: number }>;
  /** `maxBufferedBytes`: unsent outbound data a connection may hold before it is closed with 1013. */
  ws: Readonly<{ heartbeatIntervalMs: number; maxPayloadBytes: number; maxBufferedBytes: number }>;
  /** Set when the Redis engine is configured (REDIS_URL or REDIS_CLUSTER_NODES); absent: memory engine. */
  redis?: Readonly<{
    url?: string;
    clusterNodes?: ReadonlyArray<{ host: string; port: number }>;
    /** REDIS_SENTINELS + REDIS_SENTINEL_MASTER: a Sentinel-managed primary (REDIS_URL then only gives password/db/TLS). */
    sentinels?: ReadonlyArray<{ host: string; port: number }>;
    sentinelMaster?: string;
    /**
     * REDIS_WAIT_REPLICAS: each commit waits (Redis WAIT, in the same round trip) until this many replicas have it
     * before the event is acknowledged, at most REDIS_WAIT_TIMEOUT_MS; 0: no wait.
     */
    waitReplicas?: number;
    waitTimeoutMs?: number;
    prefix: string;
    claimIdleMs: number;
    streamMaxLen: number;
  }>;
  logLevel: string;
}>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses an environment (process.env by default) into an AppConfig, or throws one ConfigError listing every bad key. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = envSchema.safeParse(withoutEmpty(env));
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.');
      problems.push(`${name}: ${issue.message}${isSensitive(name) ? '' : ` (got ${JSON.stringify(env[name])})`}`);
    }
  }
  // The key checks read the raw values, so that they are reported together with any other bad value.
  const publicKey = present(env.GLOBAL_SECRET_OR_PUB_KEY)?.replace(/\\n/g, '\n');
  if (!publicKey && !present(env.GLOBAL_SECRET)) {
    problems.push('GLOBAL_SECRET or GLOBAL_SECRET_OR_PUB_KEY: one of them is required (the key that verifies client JWTs)');
  }
  if (publicKey && !publicKey.includes('-----BEGIN')) {
    problems.push(
      'GLOBAL_SECRET_OR_PUB_KEY: must be a PEM public key (-----BEGIN PUBLIC KEY----- ...); use GLOBAL_SECRET for a shared secret',
    );
  }
  if (present(env.TLS_CERT_FILE) !== undefined && present(env.TLS_KEY_FILE) === undefined) {
    problems.push('TLS_KEY_FILE: required when TLS_CERT_FILE is set (both or neither)');
  }
  if (present(env.REDIS_SENTINELS) !== undefined && present(env.REDIS_SENTINEL_MASTER) === undefined) {
    problems.push('REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS (the name the Sentinels monitor the primary under)');
  }
  if (Number(present(env.REDIS_WAIT_REPLICAS) ?? 0) > 0 && present(env.REDIS_CLUSTER_NODES) !== undefined) {
    problems.push('REDIS_WAIT_REPLICAS: not supported with REDIS_CLUSTER_NODES (WAIT would have to reach the node of each project)');
  }
  if (present(env.REDIS_SENTINELS) !== undefined && present(env.REDIS_CLUSTER_NODES) !== undefined) {
    problems.push('REDIS_SENTINELS: cannot be combined with REDIS_CLUSTER_NODES (a cluster fails over by itself)');
  }
  if (present(env.TLS_KEY_FILE) !== undefined && present(env.TLS_CERT_FILE) === undefined) {
    problems.push('TLS_CERT_FILE: required when TLS_KEY_FILE is set (both or neither)');
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    port: e.PORT,
    listenBacklog: e.LISTEN_BACKLOG,
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS,
    wsPath: e.WS_SERVER_PATH,
    jwt: {
      publicKey,
      secret: publicKey ? undefined : e.GLOBAL_SECRET,
      audience: e.JWT_AUDIENCE,
      issuer: e.JWT_ISSUER,
      clockSkewS: e.JWT_CLOCK_SKEW_S,
    },
    ingest: {
      token: e.INGEST_TOKEN,
      maxBatch: e.INGEST_MAX_BATCH,
      maxEventBytes: e.INGEST_MAX_EVENT_BYTES,
      maxBodyBytes: e.INGEST_MAX_BODY_BYTES,
      dedupeTtlS: e.INGEST_DEDUPE_TTL_S,
    },
    retention: {
      closedRequestTtlS: e.CLOSED_REQUEST_TTL_S,
      eventsTtlS: e.EVENTS_TTL_S,
      tombstoneTtlS: e.DELETE_TOMBSTONE_TTL_S ?? e.CLOSED_REQUEST_TTL_S,
    },
    limits: {
      connPerUserPerMin: e.RATE_CONN_PER_USER_PER_MIN,
      connPerIpPerMin: e.RATE_CONN_PER_IP_PER_MIN,
      maxConnPerUser: e.MAX_CONN_PER_USER,
      maxConnPerProject: e.MAX_CONN_PER_PROJECT,
      framesPerS: e.RATE_FRAMES_PER_S,
      framesBurst: e.RATE_FRAMES_BURST,
      maxSubscriptionsPerConn: e.MAX_SUBSCRIPTIONS_PER_CONN,
      ingestPerS: e.INGEST_RATE_PER_S,
      apiPerS: e.API_RATE_PER_S,
    },
    metricsPort: e.METRICS_PORT,
    ...(e.AMQP_URL ? { amqp: { url: e.AMQP_URL, queue: e.AMQP_QUEUE, prefetch: e.AMQP_PREFETCH } } : {}),
    metrics: {
      intervalMs: e.METRICS_INTERVAL_MS,
      windowS: e.METRICS_WINDOW_S,
      defaultHandleTimeS: e.METRICS_DEFAULT_HANDLE_TIME_S,
      assumedConcurrency: e.METRICS_ASSUMED_CONCURRENCY,
      targetAnswerS: e.METRICS_TARGET_ANSWER_S,
      targetLevel: e.METRICS_TARGET_LEVEL,
    },
    ...(e.TLS_CERT_FILE && e.TLS_KEY_FILE ? { tls: { certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE } } : {}),
    requireTls: e.REQUIRE_TLS,
    trustProxy: e.TRUST_PROXY ?? false,
    history: {
      requests: e.WS_HISTORY_REQUESTS_LIMIT,
      messages: e.WS_HISTORY_MESSAGES_LIMIT,
      events: e.WS_HISTORY_EVENTS_LIMIT,
    },
    ws: {
      heartbeatIntervalMs: e.WS_HEARTBEAT_INTERVAL_MS,
      maxPayloadBytes: e.WS_MAX_PAYLOAD_BYTES,
      maxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
    },
    ...(e.REDIS_URL || e.REDIS_CLUSTER_NODES || e.REDIS_SENTINELS
      ? {
          redis: {
            url: e.REDIS_URL,
            clusterNodes: hostPorts(e.REDIS_CLUSTER_NODES),
            sentinels: hostPorts(e.REDIS_SENTINELS),
            sentinelMaster: e.REDIS_SENTINEL_MASTER,
            waitReplicas: e.REDIS_WAIT_REPLICAS,
            waitTimeoutMs: e.REDIS_WAIT_TIMEOUT_MS,
            prefix: e.REDIS_PREFIX,
            claimIdleMs: e.INGEST_CLAIM_IDLE_MS,
            streamMaxLen: e.INGEST_STREAM_MAXLEN,
          },
        }
      : {}),
    logLevel: e.LOG_LEVEL,
  };
}

function hostPorts(list: string | undefined): Array<{ host: string; port: number }> | undefined {
  return list?.split(',').map((hp) => {
    const [host, port] = hp.trim().split(':');
    return { host: host!, port: Number(port) };
  });
}

/** Parses TRUST_PROXY; a string answer is the problem with it. */
function parseTrustProxy(raw: string): TrustProxy | string {
  const v = raw.trim();
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (/^\d+$/.test(v)) return Number(v);
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  try {
    proxyaddr.compile(list);
  } catch (err) {
    return `must be true, false, a hop count, or a comma-separated list of addresses, subnets or loopback/linklocal/uniquelocal (${(err as Error).message})`;
  }
  return list;
}

/** Values never echoed in errors: keys, tokens, and URLs that may carry passwords. */
function isSensitive(name: string): boolean {
  return /SECRET|TOKEN|KEY|PASSWORD|URL|NODES/.test(name);
}

function present(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

/** An empty variable means "unset", as in most deployment tools. */
function withoutEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}
