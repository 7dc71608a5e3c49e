import { DemoHandle } from './demo-launcher';

/**
 * What `npm run demo` prints once the service listens: everything ready to paste. Pure text built from
 * the running demo (host defaults to localhost, as a user types it).
 */
export function formatDemoBanner(demo: DemoHandle, host = 'localhost', at = new Date()): string {
  const p = demo.projectId;
  const base = `ws://${host}:${demo.running.port}${demo.config.wsPath}`;
  const http = `http://${host}:${demo.running.port}`;
  const s = demo.simulator;
  const watch = (topic: string, token: string) => `npm run watch -- --topic ${topic} --token ${token} --url ${base}`;
  const event = JSON.stringify({
    type: 'event.emit',
    data: { _id: 'hello-from-curl', id_project: p, name: 'hello', project_user: demo.owner.projectUserId, createdAt: at.toISOString() },
  });
  const dashboard = (token: string) => `${http}/dashboard#token=${encodeURIComponent(token)}&project=${encodeURIComponent(p)}`;
  return [
    '',
    `tiledesk-realtime demo on ${http}  (memory engine)`,
    `  project ${p} "${s.project.name}": owner, supervisor, ${s.agents.length} agents, bot ${demo.botId}`,
    `  simulating about ${demo.eventsPerSecond} events/s, seed ${demo.seed} (DEMO_SEED=${demo.seed} replays this run, DEMO_EVENTS_PER_S sets the rate)`,
    '',
    'Live dashboard, as the owner (metrics, forecast, every request and agent), then as the agent (its own view);',
    `the demo's time runs fast, so its metrics use a ${demo.config.metrics.windowS} s window and a ${demo.config.metrics.targetAnswerS} s answer target:`,
    `  ${dashboard(demo.owner.token)}`,
    `  ${dashboard(demo.agent.token)}`,
    '',
    `Owner ${demo.owner.name} (sees every request), WebSocket URL:`,
    `  ${demo.wsUrlFor(demo.owner.token, host)}`,
    '',
    `Agent ${demo.agent.name} (sees only the requests assigned to them), WebSocket URL:`,
    `  ${demo.wsUrlFor(demo.agent.token, host)}`,
    '',
    'Watch the request list in another terminal (owner, then the agent):',
    `  ${watch(`/${p}/requests`, demo.owner.token)}`,
    `  ${watch(`/${p}/requests`, demo.agent.token)}`,
    '',
    `Prometheus metrics: curl -sS http://${host}:${demo.running.metricsPort}/metrics`,
    '',
    'Ingest an event yourself, and watch it arrive:',
    `  curl -sS -X POST ${http}/v1/events -H 'Authorization: Bearer ${demo.ingestToken}' -H 'Content-Type: application/json' -d '${event}'`,
    `  ${watch(`/${p}/events/${demo.owner.projectUserId}`, demo.owner.token)}`,
    '',
    'Ctrl-C stops the demo.',
    '',
  ].join('\n');
}

/** One compact line about the traffic so far. */
export function formatStatusLine(demo: DemoHandle, at = new Date()): string {
  const t = demo.traffic.stats();
  const s = demo.simulator.summary();
  const refused = t.stale + t.duplicates + t.failed;
  return (
    `[demo ${at.toTimeString().slice(0, 8)}] events ${t.sent} (applied ${t.accepted}${refused > 0 ? `, stale ${t.stale}, duplicate ${t.duplicates}, failed ${t.failed}` : ''})` +
    ` | open requests ${s.open} (waiting ${s.waiting}, bot ${s.withBot}, agents ${s.withAgent}) | closed ${s.closed}` +
    ` | agents available ${s.agentsAvailable}/${s.agentsTotal}`
  );
}
