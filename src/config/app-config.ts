import { z } from 'zod';

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
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(/^\s*[^\s,:]+:\d+\s*(,\s*[^\s,:]+:\d+\s*)*$/, { message: 'must be a comma-separated list of host:port' })
    .optional(),
  REDIS_PREFIX: z
    .string()
    .min(1)
    .regex(/^[^{}\s]+$/, { message: 'must not contain braces or spaces (braces are Redis Cluster hash tags)' })
    .default('rt:'),
  INGEST_CLAIM_IDLE_MS: int(100).default(30_000),
  INGEST_STREAM_MAXLEN: int(1).default(100_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

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
  }>;
  history: Readonly<{ requests: number; messages: number; events: number }>;
  /** `maxBufferedBytes`: unsent outbound data a connection may hold before it is closed with 1013. */
  ws: Readonly<{ heartbeatIntervalMs: number; maxPayloadBytes: number; maxBufferedBytes: number }>;
  /** Set when the Redis engine is configured (REDIS_URL or REDIS_CLUSTER_NODES); absent: memory engine. */
  redis?: Readonly<{
    url?: string;
    clusterNodes?: ReadonlyArray<{ host: string; port: number }>;
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
    retention: { closedRequestTtlS: e.CLOSED_REQUEST_TTL_S, eventsTtlS: e.EVENTS_TTL_S },
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
    ...(e.REDIS_URL || e.REDIS_CLUSTER_NODES
      ? {
          redis: {
            url: e.REDIS_URL,
            clusterNodes: e.REDIS_CLUSTER_NODES?.split(',').map((hp) => {
              const [host, port] = hp.trim().split(':');
              return { host: host!, port: Number(port) };
            }),
            prefix: e.REDIS_PREFIX,
            claimIdleMs: e.INGEST_CLAIM_IDLE_MS,
            streamMaxLen: e.INGEST_STREAM_MAXLEN,
          },
        }
      : {}),
    logLevel: e.LOG_LEVEL,
  };
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
