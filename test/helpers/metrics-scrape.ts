/** Prometheus's view of a replica: scrapes `/metrics` on its METRICS_PORT as a Prometheus server would. */
export async function scrape(metricsPort: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** One series' value (0 when absent): `series('realtime_frames_in_total', { action: 'subscribe' })`. */
export function series(all: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  const keys = Object.keys(labels);
  if (keys.length === 0) return all.get(name) ?? 0;
  for (const [key, value] of all) {
    if (!key.startsWith(`${name}{`)) continue;
    if (keys.every((k) => key.includes(`${k}="${labels[k]}"`))) return value;
  }
  return 0;
}

/** A series read by a fresh scrape. */
export async function metricValue(metricsPort: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  return series(await scrape(metricsPort), name, labels);
}
