/** A user the banner prints a token for. */
export interface BannerUser {
  name: string;
  projectUserId: string;
  token: string;
}

export interface ClusterBannerInput {
  httpsUrl: string;
  wssUrl: string;
  certFile: string;
  configFile: string;
  ingestToken: string;
  redisUrl: string;
  proxyPid: number | undefined;
  replicas: { name: string; port: number; pid: number | undefined }[];
  drainMs: number;
  projectId: string;
  owner: BannerUser;
  /** With --demo: the simulated traffic going through the proxy. */
  demo?: { eventsPerSecond: number; seed: string; agent: BannerUser; metricsWindowS: string; targetAnswerS: string };
}

/** The owner the banner signs a token for when there is no demo: made a member by the first curl it prints. */
export const CLUSTER_PROJECT_ID = 'cluster-local';
export const CLUSTER_OWNER = { userId: 'cluster-local-owner', firstname: 'Local', lastname: 'Owner', email: 'owner@cluster.local' };

/**
 * What `npm run cluster:local` prints once the proxy answers: the topology, and everything ready to paste
 * (like the demo's banner), all through the proxy over TLS with its self-signed certificate pinned.
 */
export function formatClusterBanner(c: ClusterBannerInput, at = new Date()): string {
  const p = c.projectId;
  const wsUrl = (token: string) => `${c.wssUrl}?token=JWT%20${encodeURIComponent(token)}`;
  const curl = (body: unknown) =>
    `curl -sS --cacert ${c.certFile} -X POST ${c.httpsUrl}/v1/events -H 'Authorization: Bearer ${c.ingestToken}' -H 'Content-Type: application/json' -d '${JSON.stringify(body)}'`;
  const watch = (topic: string, token: string) =>
    `NODE_EXTRA_CA_CERTS=${c.certFile} npm run watch -- --topic ${topic} --token ${token} --url ${c.wssUrl}`;
  const dashboard = (token: string) => `${c.httpsUrl}/dashboard#token=${encodeURIComponent(token)}&project=${encodeURIComponent(p)}`;
  const now = at.toISOString();
  const lines = [
    '',
    `tiledesk-realtime cluster on ${c.httpsUrl}  (the docker-compose topology, without Docker)`,
    `  proxy      haproxy pid ${c.proxyPid ?? '?'}, ${c.configFile}, self-signed certificate ${c.certFile}`,
    ...c.replicas.map(
      (r) => `  ${r.name.padEnd(10)} pid ${r.pid ?? '?'} on 127.0.0.1:${r.port} (REQUIRE_TLS: only what comes through the proxy counts)`,
    ),
    `  redis      ${c.redisUrl} (no persistence)`,
    `  a SIGTERMed replica drains over ${c.drainMs} ms (SHUTDOWN_DRAIN_MS); kill one and its clients reconnect to the other`,
    '',
  ];
  if (c.demo) {
    lines.push(
      `Simulated helpdesk over HTTPS ingest through the proxy: about ${c.demo.eventsPerSecond} events/s, seed ${c.demo.seed}`,
      `(metrics on a ${c.demo.metricsWindowS} s window with a ${c.demo.targetAnswerS} s answer target, at the demo's pace).`,
      '',
      `Live dashboard as the owner, then as the agent (accept the self-signed certificate, or trust ${c.certFile}):`,
      `  ${dashboard(c.owner.token)}`,
      `  ${dashboard(c.demo.agent.token)}`,
      '',
      `Owner ${c.owner.name}, WebSocket URL:`,
      `  ${wsUrl(c.owner.token)}`,
      '',
      'Watch the request list through the proxy:',
      `  ${watch(`/${p}/requests`, c.owner.token)}`,
      '',
      'Ingest an event yourself, and watch it arrive:',
      `  ${curl({ type: 'event.emit', data: { _id: 'hello-from-curl', id_project: p, name: 'hello', project_user: c.owner.projectUserId, createdAt: now } })}`,
      `  ${watch(`/${p}/events/${c.owner.projectUserId}`, c.owner.token)}`,
    );
  } else {
    lines.push(
      `Owner ${c.owner.name} of project ${p}, WebSocket URL:`,
      `  ${wsUrl(c.owner.token)}`,
      '',
      'Make that user the owner of the project (nothing is there yet: run with --demo for a simulated helpdesk):',
      `  ${curl({
        type: 'project_user.create',
        data: { _id: c.owner.projectUserId, id_project: p, id_user: CLUSTER_OWNER.userId, role: 'owner', status: 'active', updatedAt: now },
      })}`,
      '',
      'Watch its requests through the proxy, then ingest one and see it arrive:',
      `  ${watch(`/${p}/requests`, c.owner.token)}`,
      `  ${curl({ type: 'request.create', data: { _id: 'cluster-local-r1', request_id: 'cluster-local-r1', id_project: p, status: 100, first_text: 'Hello', createdAt: now, updatedAt: now } })}`,
    );
  }
  lines.push('', 'Ctrl-C stops everything (replicas drain, then the proxy, then Redis); a second Ctrl-C stops at once.', '');
  return lines.join('\n');
}
