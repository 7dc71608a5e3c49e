import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/app-config';
import { Values, defaultValues, exampleFiles, isMap, loadYaml, mergeValues, readTemplate, valuesSchema } from './chart-files';

/** The values an install sees: values.yaml, then one example's overrides (`helm install -f`). */
function installs(): Array<[string, Values]> {
  const defaults = defaultValues();
  return [['values.yaml', defaults], ...exampleFiles().map((f): [string, Values] => [f, mergeValues(defaults, loadYaml(`examples/${f}`))])];
}

function compileSchema(): ValidateFunction {
  // strict: a keyword the validator does not know would be a schema mistake helm silently ignores. The
  // if/then conditions narrow properties without restating their types, which strictTypes would flag.
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
  return ajv.compile(valuesSchema());
}

function problems(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`).join('\n');
}

/** Names the service reads: the keys of the env schema in src/config/app-config.ts. */
function serviceEnvNames(): Set<string> {
  const source = readFileSync(join(__dirname, '..', '..', 'src', 'config', 'app-config.ts'), 'utf8');
  const block = /const envSchema = z\.object\(\{([\s\S]*?)\n\}\);/.exec(source);
  if (!block) throw new Error('envSchema not found in src/config/app-config.ts');
  return new Set([...block[1]!.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!));
}

/** Literal variable names the Deployment template sets (`- name: X` under env). */
function deploymentEnvNames(): string[] {
  return [...readTemplate('deployment.yaml').matchAll(/^\s+- name: ([A-Z][A-Z0-9_]*)\s*$/gm)].map((m) => m[1]!);
}

/** The `config` map as the Deployment passes it: null and empty values leave the variable unset. */
function configEnv(values: Values): Record<string, string> {
  const config = values.config;
  if (!isMap(config)) throw new Error('config is not a map');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    if (v === null || v === '') continue;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new Error(`config.${k} is not a scalar`);
    env[k] = String(v);
  }
  return env;
}

describe('helm chart values', () => {
  const validate = compileSchema();

  it.each(installs())('%s validates against values.schema.json', (_name, values) => {
    const ok = validate(values);
    expect(problems(validate.errors)).toBe('');
    expect(ok).toBe(true);
  });

  it('has the examples the docs refer to', () => {
    expect(exampleFiles()).toEqual(
      expect.arrayContaining([
        'memory-single.yaml',
        'redis-url-production.yaml',
        'redis-cluster.yaml',
        'redis-sentinel.yaml',
        'tls-in-pod.yaml',
      ]),
    );
  });

  const bad: Array<[string, Values, string]> = [
    ['three replicas on the memory engine', { replicaCount: 3 }, '/replicaCount'],
    ['autoscaling on the memory engine', { autoscaling: { enabled: true } }, '/autoscaling/enabled'],
    ['a port past 65535', { containerPorts: { http: 70000 } }, '/containerPorts/http'],
    ['the metrics port at 0', { service: { metricsPort: 0 } }, '/service/metricsPort'],
    ['an unknown top-level key', { replicas: 2 }, ''],
    ['a misspelt setting', { config: { RATE_FRAMES_PER_SEC: 10 } }, '/config'],
    ['a setting the chart manages (PORT)', { config: { PORT: 8080 } }, '/config'],
    ['a secret in the plain config (GLOBAL_SECRET)', { config: { GLOBAL_SECRET: 'x' } }, '/config'],
    ['a limit below its minimum', { config: { RATE_FRAMES_PER_S: 0 } }, '/config/RATE_FRAMES_PER_S'],
    ['a fraction out of (0, 1)', { config: { METRICS_TARGET_LEVEL: 1.5 } }, '/config/METRICS_TARGET_LEVEL'],
    ['a WebSocket path without its slash', { config: { WS_SERVER_PATH: 'ws' } }, '/config/WS_SERVER_PATH'],
    ['an unknown Redis mode', { redis: { mode: 'memcached' } }, '/redis/mode'],
    ['url mode with neither a URL nor an existing Secret', { redis: { mode: 'url' } }, '/redis/url'],
    ['a URL that is not redis://', { redis: { mode: 'url', url: 'http://redis:6379' } }, '/redis/url'],
    ['cluster mode without nodes', { redis: { mode: 'cluster' } }, '/redis/clusterNodes'],
    ['a cluster node without a port', { redis: { mode: 'cluster', clusterNodes: ['redis-0'] } }, '/redis/clusterNodes/0'],
    ['sentinel mode without the master name', { redis: { mode: 'sentinel', sentinels: ['s:26379'] } }, '/redis/sentinelMaster'],
    ['a prefix holding a hash tag', { redis: { mode: 'url', url: 'redis://r:6379', prefix: 'rt:{a}' } }, '/redis/prefix'],
    ['a negative WAIT', { redis: { mode: 'url', url: 'redis://r:6379', waitReplicas: -1 } }, '/redis/waitReplicas'],
    ['WAIT on a cluster', { redis: { mode: 'cluster', clusterNodes: ['r:6379'], waitReplicas: 1 } }, '/redis/waitReplicas'],
    ['a public key that is not PEM', { secrets: { globalSecretOrPubKey: 'not a key' } }, '/secrets/globalSecretOrPubKey'],
    ['a drain window past the service maximum', { shutdown: { drainMs: 700000 } }, '/shutdown/drainMs'],
    [
      'an ingress path without its slash',
      { ingress: { hosts: [{ host: 'h', paths: [{ path: 'ws' }] }] } },
      '/ingress/hosts/0/paths/0/path',
    ],
    [
      'a PDB budget that is not a number or a percentage',
      { podDisruptionBudget: { maxUnavailable: 'one' } },
      '/podDisruptionBudget/maxUnavailable',
    ],
  ];

  it.each(bad)('refuses %s', (_what, override, path) => {
    const values = mergeValues(defaultValues(), override);
    expect(validate(values)).toBe(false);
    expect(validate.errors?.map((e) => e.instancePath)).toContain(path);
  });

  it('accepts several replicas once Redis is configured', () => {
    const values = mergeValues(defaultValues(), { replicaCount: 3, redis: { mode: 'url', url: 'redis://:pw@redis:6379/0' } });
    expect(validate(values)).toBe(true);
  });

  it('accepts url mode whose REDIS_URL is in the existing Secret', () => {
    const values = mergeValues(defaultValues(), { replicaCount: 3, redis: { mode: 'url' }, secrets: { existingSecret: 'realtime-env' } });
    expect(validate(values)).toBe(true);
  });

  it('accepts only settings the service reads in config', () => {
    const schemaConfig = valuesSchema().properties as Record<string, { properties?: Record<string, unknown> }>;
    const accepted = Object.keys(schemaConfig.config?.properties ?? {});
    const read = serviceEnvNames();
    expect(accepted.length).toBeGreaterThan(20);
    expect(accepted.filter((name) => !read.has(name))).toEqual([]);
  });

  it('sets in the Deployment only variables the service reads, and none the config map can set again', () => {
    const read = serviceEnvNames();
    const set = deploymentEnvNames();
    expect(set).toEqual(
      expect.arrayContaining([
        'PORT',
        'METRICS_PORT',
        'SHUTDOWN_DRAIN_MS',
        'REDIS_CLUSTER_NODES',
        'REDIS_SENTINELS',
        'REDIS_WAIT_REPLICAS',
      ]),
    );
    expect(set.filter((name) => !read.has(name))).toEqual([]);
    const schemaConfig = valuesSchema().properties as Record<string, { properties?: Record<string, unknown> }>;
    const configurable = new Set(Object.keys(schemaConfig.config?.properties ?? {}));
    expect(set.filter((name) => configurable.has(name))).toEqual([]);
  });

  it.each(installs())('%s: the service accepts its config settings (the service validator, not the schema)', (_name, values) => {
    expect(() => loadConfig({ ...configEnv(values), GLOBAL_SECRET: 'a-test-secret' })).not.toThrow();
  });

  it('keeps idle WebSockets open through ingress-nginx longer than the heartbeat, in every install that has it', () => {
    const withNginx = installs().filter(([, v]) => isMap(v.ingress) && v.ingress.enabled === true && v.ingress.className === 'nginx');
    expect(withNginx.map(([name]) => name)).toEqual(expect.arrayContaining(['redis-url-production.yaml', 'redis-cluster.yaml']));
    for (const [name, values] of withNginx) {
      const annotations = (values.ingress as Values).annotations as Record<string, string>;
      const heartbeatS = Number((values.config as Values).WS_HEARTBEAT_INTERVAL_MS ?? 30000) / 1000;
      for (const key of ['nginx.ingress.kubernetes.io/proxy-read-timeout', 'nginx.ingress.kubernetes.io/proxy-send-timeout']) {
        expect({ name, key, seconds: Number(annotations[key]) > heartbeatS }).toEqual({ name, key, seconds: true });
      }
    }
  });
});
