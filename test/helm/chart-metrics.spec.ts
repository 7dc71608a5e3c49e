import { parseAllDocuments } from 'yaml';
import { ServiceMetrics } from '../../src/ops/service-metrics';
import { defaultValues, readChartFile, readTemplate, valueAt } from './chart-files';
import { blankTemplate } from './go-template-text';
import { grafanaVariableMetricNames, promqlMetricNames } from './promql-metric-names';

/**
 * Series the alerts may read without the service exporting them: Prometheus's own `up`, and the
 * kube-state-metrics series of the optional readiness alerts (metrics.prometheusRule.kubeStateMetrics).
 */
const EXTERNAL_SERIES = new Set(['up', 'kube_pod_status_ready', 'kube_deployment_status_replicas_available']);

/** Series names the service's /metrics has: each family, and a histogram's _bucket, _sum and _count. */
async function exportedSeries(): Promise<{ series: Set<string>; realtimeFamilies: string[] }> {
  const families = await new ServiceMetrics().registry.getMetricsAsJSON();
  const series = new Set<string>();
  for (const f of families) {
    const type = String(f.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) series.add(f.name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) series.add(f.name + s);
    else series.add(f.name);
  }
  return { series, realtimeFamilies: families.map((f) => f.name).filter((n) => n.startsWith('realtime_')) };
}

type Panel = { title?: string; type?: string; id?: number; targets?: Array<{ expr?: string }>; panels?: Panel[] };
type Dashboard = { uid?: string; panels?: Panel[]; templating?: { list?: Array<{ type?: string; query?: string | { query?: string } }> } };

function dashboard(): Dashboard {
  return JSON.parse(readChartFile('dashboards/tiledesk-realtime.json')) as Dashboard;
}

function panelsOf(d: Dashboard): Panel[] {
  return (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** PromQL of every panel target. */
function dashboardExprs(d: Dashboard): string[] {
  return panelsOf(d).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
}

function variableQueries(d: Dashboard): string[] {
  return (d.templating?.list ?? [])
    .filter((v) => v.type === 'query')
    .map((v) => (typeof v.query === 'string' ? v.query : (v.query?.query ?? '')));
}

type Rule = { alert?: string; expr?: string; labels?: Record<string, string> };

/** The chart's alert rules, read from the PrometheusRule template with its actions blanked out (thresholds read as 1). */
function alertRules(): Rule[] {
  const doc = parseAllDocuments(blankTemplate(readTemplate('prometheusrule.yaml'), '1'))[0]!.toJS() as {
    spec: { groups: Array<{ rules: Rule[] }> };
  };
  return doc.spec.groups.flatMap((g) => g.rules);
}

describe('helm chart Grafana dashboard', () => {
  it('queries only series the service exports', async () => {
    const { series } = await exportedSeries();
    const d = dashboard();
    const used = [...dashboardExprs(d).flatMap(promqlMetricNames), ...variableQueries(d).flatMap(grafanaVariableMetricNames)];
    expect(used.length).toBeGreaterThan(20);
    expect([...new Set(used)].filter((name) => !series.has(name))).toEqual([]);
  });

  it('charts every realtime_* family the service exports', async () => {
    const { realtimeFamilies } = await exportedSeries();
    const used = new Set(dashboardExprs(dashboard()).flatMap(promqlMetricNames));
    const charted = (family: string) => [family, `${family}_bucket`, `${family}_sum`, `${family}_count`].some((n) => used.has(n));
    expect(realtimeFamilies.length).toBeGreaterThan(10);
    expect(realtimeFamilies.filter((f) => !charted(f))).toEqual([]);
  });

  it('has a stable uid, unique panel ids and a title and a query on every panel', () => {
    const d = dashboard();
    expect(d.uid).toBe('tiledesk-realtime');
    const panels = panelsOf(d);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.title).toBeTruthy();
      if (p.type !== 'row') expect((p.targets ?? []).every((t) => (t.expr ?? '').length > 0) && (p.targets ?? []).length > 0).toBe(true);
    }
  });

  it('is shipped by the ConfigMap the sidecar looks for', () => {
    expect(readTemplate('grafana-dashboard.yaml')).toContain('.Files.Get "dashboards/tiledesk-realtime.json"');
    expect(valueAt(defaultValues(), ['metrics', 'grafanaDashboard', 'labels']).value).toEqual({ grafana_dashboard: '1' });
  });
});

describe('helm chart PrometheusRule', () => {
  it('has the alerts the issue asks for: Redis, refusals, slow consumers, latency p99', () => {
    expect(alertRules().map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'RealtimeRedisReconnecting',
        'RealtimeNotReady',
        'RealtimeNoReplicaReady',
        'RealtimeHandshakeRefusalsHigh',
        'RealtimeLimitRefusalsHigh',
        'RealtimeSlowConsumers',
        'RealtimeDeliveryLatencyHigh',
      ]),
    );
  });

  it('reads only series the service exports, or the documented external ones', async () => {
    const { series } = await exportedSeries();
    const rules = alertRules();
    const used = rules.flatMap((r) => promqlMetricNames(r.expr ?? ''));
    expect(used.length).toBeGreaterThanOrEqual(rules.length);
    expect([...new Set(used)].filter((name) => !series.has(name) && !EXTERNAL_SERIES.has(name))).toEqual([]);
  });

  it('takes the p99 from the latency histogram and selects its own job in every expression', () => {
    const rules = alertRules();
    expect(rules.find((r) => r.alert === 'RealtimeDeliveryLatencyHigh')?.expr).toMatch(
      /histogram_quantile\(0\.99, sum by \([^)]*\ble\b[^)]*\) \(rate\(realtime_delivery_latency_seconds_bucket\{/,
    );
    const text = readTemplate('prometheusrule.yaml');
    const exprs = [...text.matchAll(/expr: \|-\n((?:\s{12}.*\n)+)/g)].map((m) => m[1]!);
    expect(exprs.length).toBe(rules.length);
    // Each series reference carries a selector: the chart's job, or kube-state-metrics' namespace and name.
    for (const e of exprs) expect(e).toMatch(/\$sel|namespace="\{\{ \.Release\.Namespace \}\}"/);
  });

  it('gives every alert a severity', () => {
    for (const r of alertRules()) expect(['warning', 'critical']).toContain(r.labels?.severity);
  });
});
