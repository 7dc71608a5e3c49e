/**
 * Metric names a PromQL expression reads: enough of PromQL to check the chart's alerts and dashboard
 * against what the service exports (strings, label matchers, ranges and grouping clauses are not names).
 */

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

export function promqlMetricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^{}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\S+/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.:$])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])(?!\s*\()/g)) {
    const name = m[1]!;
    if (!KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names].sort();
}

/** Metric names of a Grafana variable query: `label_values(metric{...}, label)`, `query_result(<promql>)`, `metrics(re)`. */
export function grafanaVariableMetricNames(query: string): string[] {
  const q = query.trim();
  const labelValues = /^label_values\(\s*(.*)\)$/s.exec(q);
  if (labelValues) {
    const args = labelValues[1]!;
    const lastComma = args.lastIndexOf(',');
    return lastComma === -1 ? [] : promqlMetricNames(args.slice(0, lastComma));
  }
  const queryResult = /^query_result\((.*)\)$/s.exec(q);
  if (queryResult) return promqlMetricNames(queryResult[1]!);
  if (/^(label_names|metrics)\(/.test(q)) return [];
  return promqlMetricNames(q);
}
