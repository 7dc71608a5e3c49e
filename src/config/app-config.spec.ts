import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, loadConfig } from './app-config';

const base = { GLOBAL_SECRET: 'a-shared-secret' };

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig defaults (operations.md §2, ingest.md)', () => {
  it('fills every default from a minimal environment', () => {
    const c = loadConfig(base);
    expect(c.port).toBe(3000);
    expect(c.listenBacklog).toBe(4096);
    expect(c.shutdownDrainMs).toBe(10_000);
    expect(c.wsPath).toBe('/');
    expect(c.jwt).toEqual({ secret: 'a-shared-secret', publicKey: undefined, audience: undefined, issuer: undefined, clockSkewS: 30 });
    expect(c.history).toEqual({ requests: 100, messages: 300, events: 20 });
    expect(c.ws).toEqual({ heartbeatIntervalMs: 30_000, maxPayloadBytes: 65_536, maxBufferedBytes: 4_194_304 });
    expect(c.ingest).toEqual({
      token: undefined,
      maxBatch: 500,
      maxEventBytes: 262_144,
      maxBodyBytes: expect.any(Number),
      dedupeTtlS: 3600,
    });
    expect(c.retention).toEqual({ closedRequestTtlS: 86_400, eventsTtlS: 3600, tombstoneTtlS: 86_400 });
    expect(c.limits).toEqual({
      connPerUserPerMin: 60,
      connPerIpPerMin: 600,
      maxConnPerUser: 50,
      maxConnPerProject: 20_000,
      framesPerS: 20,
      framesBurst: 100,
      maxSubscriptionsPerConn: 1000,
      ingestPerS: 200,
      apiPerS: 20,
    });
    expect(c.metrics).toEqual({
      intervalMs: 2000,
      windowS: 900,
      defaultHandleTimeS: 600,
      assumedConcurrency: 3,
      targetAnswerS: 60,
      targetLevel: 0.8,
    });
    expect(c.tls).toBeUndefined();
    expect(c.requireTls).toBe(false);
    expect(c.trustProxy).toBe(false);
    expect(c.logLevel).toBe('info');
  });

  it('reads the limits, TLS and proxy settings (operations.md §2-3)', () => {
    const c = loadConfig({
      ...base,
      RATE_CONN_PER_USER_PER_MIN: '5',
      RATE_CONN_PER_IP_PER_MIN: '7',
      MAX_CONN_PER_USER: '2',
      MAX_CONN_PER_PROJECT: '3',
      RATE_FRAMES_PER_S: '4',
      RATE_FRAMES_BURST: '8',
      MAX_SUBSCRIPTIONS_PER_CONN: '9',
      INGEST_RATE_PER_S: '10',
      API_RATE_PER_S: '11',
      CLOSED_REQUEST_TTL_S: '100',
      TLS_CERT_FILE: '/etc/tls/tls.crt',
      TLS_KEY_FILE: '/etc/tls/tls.key',
      REQUIRE_TLS: 'true',
      TRUST_PROXY: 'loopback, 10.0.0.0/8',
    });
    expect(c.limits).toEqual({
      connPerUserPerMin: 5,
      connPerIpPerMin: 7,
      maxConnPerUser: 2,
      maxConnPerProject: 3,
      framesPerS: 4,
      framesBurst: 8,
      maxSubscriptionsPerConn: 9,
      ingestPerS: 10,
      apiPerS: 11,
    });
    expect(c.retention.tombstoneTtlS).toBe(100);
    expect(loadConfig({ ...base, DELETE_TOMBSTONE_TTL_S: '5' }).retention.tombstoneTtlS).toBe(5);
    expect(c.tls).toEqual({ certFile: '/etc/tls/tls.crt', keyFile: '/etc/tls/tls.key' });
    expect(c.requireTls).toBe(true);
    expect(c.trustProxy).toEqual(['loopback', '10.0.0.0/8']);
    expect(loadConfig({ ...base, TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ ...base, TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ ...base, TRUST_PROXY: 'false' }).trustProxy).toBe(false);
  });

  it('refuses bad limits, a lone TLS file and a TRUST_PROXY that is not an address list, all at once', () => {
    const e = configError({
      ...base,
      MAX_CONN_PER_USER: '0',
      RATE_FRAMES_PER_S: 'fast',
      TLS_CERT_FILE: '/etc/tls/tls.crt',
      REQUIRE_TLS: 'maybe',
      TRUST_PROXY: 'not-an-address',
    });
    for (const name of ['MAX_CONN_PER_USER', 'RATE_FRAMES_PER_S', 'TLS_KEY_FILE', 'REQUIRE_TLS', 'TRUST_PROXY']) {
      expect(e.message).toContain(name);
    }
  });

  it('reads the METRICS_* settings and refuses a target level that is not a share', () => {
    const c = loadConfig({
      ...base,
      METRICS_INTERVAL_MS: '500',
      METRICS_WINDOW_S: '300',
      METRICS_DEFAULT_HANDLE_TIME_S: '420',
      METRICS_ASSUMED_CONCURRENCY: '2',
      METRICS_TARGET_ANSWER_S: '30',
      METRICS_TARGET_LEVEL: '0.9',
    });
    expect(c.metrics).toEqual({
      intervalMs: 500,
      windowS: 300,
      defaultHandleTimeS: 420,
      assumedConcurrency: 2,
      targetAnswerS: 30,
      targetLevel: 0.9,
    });
    for (const level of ['1', '0', '1.5', 'high', '-0.2']) {
      expect(configError({ ...base, METRICS_TARGET_LEVEL: level }).message).toContain('METRICS_TARGET_LEVEL');
    }
    expect(configError({ ...base, METRICS_WINDOW_S: '10' }).message).toContain('METRICS_WINDOW_S');
  });

  it('reads the AMQP transport and the Redis Sentinel and WAIT settings, refusing combinations that cannot work', () => {
    expect(loadConfig(base).amqp).toBeUndefined();
    expect(loadConfig({ ...base, AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672' }).amqp).toEqual({
      url: 'amqp://guest:guest@127.0.0.1:5672',
      queue: 'tiledesk-realtime',
      prefetch: 50,
    });
    expect(configError({ ...base, AMQP_URL: 'http://broker' }).message).toContain('AMQP_URL');
    const sentinel = loadConfig({
      ...base,
      REDIS_SENTINELS: 's1:26379, s2:26379',
      REDIS_SENTINEL_MASTER: 'mymaster',
      REDIS_WAIT_REPLICAS: '1',
    });
    expect(sentinel.redis).toMatchObject({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      sentinelMaster: 'mymaster',
      waitReplicas: 1,
      waitTimeoutMs: 1000,
    });
    expect(configError({ ...base, REDIS_SENTINELS: 's1:26379' }).message).toContain('REDIS_SENTINEL_MASTER');
    expect(configError({ ...base, REDIS_CLUSTER_NODES: 'n1:7000', REDIS_WAIT_REPLICAS: '1' }).message).toContain('REDIS_WAIT_REPLICAS');
    expect(loadConfig({ ...base, METRICS_PORT: '0' }).metricsPort).toBe(0);
  });

  it('takes a listen backlog and a drain window, and refuses values out of range', () => {
    expect(loadConfig({ ...base, LISTEN_BACKLOG: '16384' }).listenBacklog).toBe(16_384);
    expect(configError({ ...base, LISTEN_BACKLOG: '0' }).message).toContain('LISTEN_BACKLOG');
    expect(loadConfig({ ...base, SHUTDOWN_DRAIN_MS: '0' }).shutdownDrainMs).toBe(0);
    expect(configError({ ...base, SHUTDOWN_DRAIN_MS: '-1' }).message).toContain('SHUTDOWN_DRAIN_MS');
  });

  it('reads every value it is given', () => {
    const c = loadConfig({
      ...base,
      PORT: '8080',
      WS_SERVER_PATH: '/v2/',
      JWT_AUDIENCE: 'https://tiledesk.com',
      JWT_ISSUER: 'https://tiledesk.com',
      JWT_CLOCK_SKEW_S: '5',
      INGEST_TOKEN: 'ingest-token',
      INGEST_MAX_BATCH: '50',
      INGEST_MAX_EVENT_BYTES: '1024',
      INGEST_DEDUPE_TTL_S: '60',
      CLOSED_REQUEST_TTL_S: '600',
      EVENTS_TTL_S: '120',
      WS_HISTORY_REQUESTS_LIMIT: '10',
      WS_HISTORY_MESSAGES_LIMIT: '30',
      WS_HISTORY_EVENTS_LIMIT: '2',
      WS_HEARTBEAT_INTERVAL_MS: '1000',
      WS_MAX_PAYLOAD_BYTES: '4096',
      LOG_LEVEL: 'debug',
    });
    expect(c).toMatchObject({
      port: 8080,
      wsPath: '/v2/',
      jwt: { audience: 'https://tiledesk.com', issuer: 'https://tiledesk.com', clockSkewS: 5 },
      ingest: { token: 'ingest-token', maxBatch: 50, maxEventBytes: 1024, dedupeTtlS: 60 },
      retention: { closedRequestTtlS: 600, eventsTtlS: 120 },
      history: { requests: 10, messages: 30, events: 2 },
      ws: { heartbeatIntervalMs: 1000, maxPayloadBytes: 4096 },
      logLevel: 'debug',
    });
  });

  it('treats an empty variable as unset', () => {
    const c = loadConfig({ ...base, PORT: '', JWT_AUDIENCE: '', INGEST_TOKEN: '' });
    expect(c.port).toBe(3000);
    expect(c.jwt.audience).toBeUndefined();
    expect(c.ingest.token).toBeUndefined();
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig({ ...base, HOME: '/root', SOMETHING_ELSE: 'x' })).not.toThrow();
  });
});

describe('loadConfig: the JWT key', () => {
  it('refuses an environment without GLOBAL_SECRET nor GLOBAL_SECRET_OR_PUB_KEY', () => {
    const err = configError({});
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(/GLOBAL_SECRET/);
    expect(configError({ GLOBAL_SECRET: '   ' }).problems[0]).toMatch(/GLOBAL_SECRET/);
  });

  it('turns literal \\n sequences of GLOBAL_SECRET_OR_PUB_KEY into newlines', () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const oneLine = pem.trim().split('\n').join('\\n');
    expect(oneLine).not.toContain('\n');
    const c = loadConfig({ GLOBAL_SECRET_OR_PUB_KEY: oneLine });
    expect(c.jwt.publicKey).toBe(pem.trim());
    expect(c.jwt.publicKey).toContain('-----BEGIN PUBLIC KEY-----\n');
  });

  it('a public key takes precedence over a shared secret', () => {
    const c = loadConfig({ GLOBAL_SECRET: 's', GLOBAL_SECRET_OR_PUB_KEY: '-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----' });
    expect(c.jwt.secret).toBeUndefined();
    expect(c.jwt.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
  });

  it('refuses a GLOBAL_SECRET_OR_PUB_KEY that is not PEM, without echoing it', () => {
    const err = configError({ GLOBAL_SECRET_OR_PUB_KEY: 'my-super-secret-value' });
    expect(err.problems.join('\n')).toMatch(/GLOBAL_SECRET_OR_PUB_KEY/);
    expect(err.message).not.toContain('my-super-secret-value');
  });
});

describe('loadConfig: bad values', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '3000.5'],
    ['WS_SERVER_PATH', 'ws'],
    ['JWT_CLOCK_SKEW_S', '-5'],
    ['INGEST_MAX_BATCH', '0'],
    ['WS_HISTORY_REQUESTS_LIMIT', '0'],
    ['WS_HEARTBEAT_INTERVAL_MS', 'soon'],
    ['LOG_LEVEL', 'verbose'],
  ])('%s=%j is refused, naming the key and the value', (key, value) => {
    const err = configError({ ...base, [key]: value });
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toContain(key);
    expect(err.problems[0]).toContain(JSON.stringify(value));
    expect(err.message).toContain(key);
  });

  it('reports every bad key together in one ConfigError', () => {
    const err = configError({ ...base, PORT: 'x', WS_HISTORY_MESSAGES_LIMIT: '-3', LOG_LEVEL: 'loud', EVENTS_TTL_S: '0' });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.name).toBe('ConfigError');
    const keys = ['PORT', 'WS_HISTORY_MESSAGES_LIMIT', 'LOG_LEVEL', 'EVENTS_TTL_S'];
    expect(err.problems).toHaveLength(keys.length);
    for (const k of keys) expect(err.problems.some((p) => p.startsWith(`${k}:`))).toBe(true);
    for (const k of keys) expect(err.message).toContain(k);
  });

  it('reports a missing key together with the other bad values', () => {
    const err = configError({ PORT: 'x', LOG_LEVEL: 'loud' });
    expect(err.problems).toHaveLength(3);
    expect(err.problems.some((p) => p.startsWith('PORT:'))).toBe(true);
    expect(err.problems.some((p) => p.startsWith('LOG_LEVEL:'))).toBe(true);
    expect(err.problems.some((p) => p.startsWith('GLOBAL_SECRET'))).toBe(true);
  });

  it('never echoes a secret or a token in its messages', () => {
    const err = configError({
      GLOBAL_SECRET_OR_PUB_KEY: 'not-a-pem-but-secret-1',
      INGEST_TOKEN: 'ingest-token-secret-2',
      PORT: 'bad',
    });
    expect(err.message).not.toContain('not-a-pem-but-secret-1');
    expect(err.message).not.toContain('ingest-token-secret-2');
    expect(err.message).toContain('PORT');
  });
});
