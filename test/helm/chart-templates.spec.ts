import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  CHART_DIR,
  defaultValues,
  isMap,
  readChartFile,
  readTemplate,
  schemaAt,
  templateFiles,
  valueAt,
  valuesSchema,
} from './chart-files';
import { blankTemplate, definedTemplateNames, filesGetPaths, includedTemplateNames, valuesPaths } from './go-template-text';

const manifests = templateFiles().filter((f) => f.endsWith('.yaml'));
const helpers = readChartFile('templates/_helpers.tpl');

/** Every chart file with template actions: the manifests, NOTES.txt and the helpers. */
function templatedFiles(): Array<[string, string]> {
  return [...templateFiles().map((f): [string, string] => [f, readTemplate(f)]), ['_helpers.tpl', helpers]];
}

describe('helm chart templates', () => {
  it('has the manifests the chart promises', () => {
    expect(manifests).toEqual(
      expect.arrayContaining([
        'deployment.yaml',
        'service.yaml',
        'ingress.yaml',
        'hpa.yaml',
        'pdb.yaml',
        'servicemonitor.yaml',
        'prometheusrule.yaml',
        'grafana-dashboard.yaml',
        'secret.yaml',
      ]),
    );
  });

  it.each(templatedFiles())('%s reads only .Values paths that values.yaml and the schema both have', (_file, text) => {
    const values = defaultValues();
    const schema = valuesSchema();
    const paths = valuesPaths(text);
    const missing = paths
      .filter((p) => !valueAt(values, p).found || schemaAt(schema, p) === undefined)
      .map((p) => `${p.join('.')} (values.yaml: ${valueAt(values, p).found}, schema: ${schemaAt(schema, p) !== undefined})`);
    expect(missing).toEqual([]);
  });

  it('reads .Values at all (the path check above is not vacuous)', () => {
    const all = templatedFiles().flatMap(([, text]) => valuesPaths(text).map((p) => p.join('.')));
    expect(all).toEqual(expect.arrayContaining(['shutdown.drainMs', 'redis.sentinels', 'config', 'metrics.prometheusRule.thresholds']));
  });

  it.each(manifests)('%s parses as YAML once its template actions are blanked out', (file) => {
    const docs = parseAllDocuments(blankTemplate(readTemplate(file)));
    const errors = docs.flatMap((d) => d.errors.map((e) => e.message));
    expect(errors).toEqual([]);
    const objects = docs.map((d) => d.toJS() as unknown).filter((o) => o !== null);
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects) {
      expect(isMap(o)).toBe(true);
      if (!isMap(o)) continue;
      expect(typeof o.apiVersion).toBe('string');
      expect(typeof o.kind).toBe('string');
      expect(isMap(o.metadata) && typeof o.metadata.name === 'string').toBe(true);
    }
  });

  it('includes only templates that _helpers.tpl defines', () => {
    const defined = new Set(definedTemplateNames(helpers));
    const used = templatedFiles().flatMap(([, text]) => includedTemplateNames(text));
    expect(used.length).toBeGreaterThan(10);
    expect([...new Set(used)].filter((name) => !defined.has(name))).toEqual([]);
  });

  it('reads only chart files that exist', () => {
    const read = templatedFiles().flatMap(([, text]) => filesGetPaths(text));
    expect(read).toContain('dashboards/tiledesk-realtime.json');
    expect(read.filter((p) => !existsSync(join(CHART_DIR, p)))).toEqual([]);
  });
});

describe('helm chart Deployment', () => {
  // Blanked, the manifest still says what the chart always does, whatever the values.
  const deployment = parseAllDocuments(blankTemplate(readTemplate('deployment.yaml')))[0]!.toJS() as Record<string, any>;
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it('never takes a ready replica away before its replacement is ready', () => {
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it('probes /healthz for startup and liveness and /readyz for readiness, on the http port', () => {
    expect(container.startupProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    expect(container.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
  });

  it('sleeps before SIGTERM and computes the grace period from the drain window', () => {
    expect(container.lifecycle.preStop.exec.command[0]).toBe('sleep');
    const text = readTemplate('deployment.yaml');
    expect(text).toMatch(/terminationGracePeriodSeconds: \{\{ include "realtime.terminationGracePeriodSeconds" \. \}\}/);
    expect(helpers).toMatch(
      /define "realtime.terminationGracePeriodSeconds"[\s\S]*\.Values\.shutdown\.drainMs[\s\S]*preStopSleepSeconds[\s\S]*graceMarginSeconds/,
    );
  });

  it('names its ports http and metrics and gives /tmp an emptyDir under a read-only root', () => {
    expect(container.ports.map((p: { name: string }) => p.name)).toEqual(['http', 'metrics']);
    expect(container.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(pod.volumes[0]).toMatchObject({ name: 'tmp', emptyDir: {} });
    const values = defaultValues() as Record<string, any>;
    expect(values.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(values.podSecurityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
  });

  it('spreads replicas over zones and nodes', () => {
    expect(pod.topologySpreadConstraints[0]).toHaveProperty('topologyKey');
    expect(pod.topologySpreadConstraints[0]).toHaveProperty('labelSelector.matchLabels');
    expect(readTemplate('deployment.yaml')).toMatch(/list "topology\.kubernetes\.io\/zone" "kubernetes\.io\/hostname"/);
  });
});

describe('helm chart Services', () => {
  const [publicService, metricsService] = parseAllDocuments(blankTemplate(readTemplate('service.yaml'))).map(
    (d) => d.toJS() as Record<string, any>,
  );

  it('serves WebSockets on a port named http with a WebSocket appProtocol', () => {
    expect(publicService!.spec.ports).toHaveLength(1);
    expect(publicService!.spec.ports[0]).toMatchObject({ name: 'http', targetPort: 'http' });
    expect(helpers).toMatch(/kubernetes\.io\/wss[\s\S]*kubernetes\.io\/ws\b/);
  });

  it('keeps metrics in a ClusterIP Service of its own, which the Ingress never routes to', () => {
    expect(metricsService!.spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'metrics', targetPort: 'metrics' }] });
    const ingress = parseAllDocuments(blankTemplate(readTemplate('ingress.yaml')))[0]!.toJS() as Record<string, any>;
    expect(ingress.spec.rules[0].http.paths[0].backend.service.port).toEqual({ name: 'http' });
  });
});
