import { grafanaVariableMetricNames, promqlMetricNames } from './promql-metric-names';

describe('promqlMetricNames (the alert and dashboard checks stand on it)', () => {
  it('names the series, not functions, aggregations, labels, ranges or numbers', () => {
    const expr =
      'histogram_quantile(0.99, sum by (namespace, le) (rate(realtime_delivery_latency_seconds_bucket{job="x", le!="+Inf"}[$__rate_interval]))) > 0.5';
    expect(promqlMetricNames(expr)).toEqual(['realtime_delivery_latency_seconds_bucket']);
  });

  it('reads both sides of set and comparison operators', () => {
    const expr =
      'max by (namespace, pod) (kube_pod_status_ready{condition="false"}) == 1\nunless on (namespace, pod) max by (namespace, pod) (realtime_draining{job="x"}) == 1';
    expect(promqlMetricNames(expr)).toEqual(['kube_pod_status_ready', 'realtime_draining']);
  });

  it('sees a bare name and a name with a colon', () => {
    expect(promqlMetricNames('up == 0 or job:realtime_frames:rate5m > 1e3')).toEqual(['job:realtime_frames:rate5m', 'up']);
  });

  it('reads the metric of label_values and nothing of label_names', () => {
    expect(grafanaVariableMetricNames('label_values(realtime_connections_open{namespace="$namespace"}, job)')).toEqual([
      'realtime_connections_open',
    ]);
    expect(grafanaVariableMetricNames('label_values(namespace)')).toEqual([]);
    expect(grafanaVariableMetricNames('label_names()')).toEqual([]);
  });
});
