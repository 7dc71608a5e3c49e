import { request as httpsRequest } from 'node:https';
import { createApp, RunningApp } from '../../src/bootstrap';
import { loadConfig } from '../../src/config/app-config';
import { TEST_SECRET, userToken } from './tokens';
import { TestClient } from './ws-client';

export const INGEST_TOKEN = 'test-ingest-token';

/**
 * Limits out of reach of the suites that test something else (the randomized access test sends hundreds of
 * subscribes per connection, ordering tests reconnect one user many times); the limits suites set their own.
 */
export const GENEROUS_LIMITS: Record<string, string> = {
  RATE_CONN_PER_USER_PER_MIN: '100000',
  RATE_CONN_PER_IP_PER_MIN: '1000000',
  MAX_CONN_PER_USER: '100000',
  RATE_FRAMES_PER_S: '100000',
  RATE_FRAMES_BURST: '100000',
  INGEST_RATE_PER_S: '100000',
  API_RATE_PER_S: '100000',
};

export interface TestApp extends RunningApp {
  /** POSTs one envelope or a batch to /v1/events; returns status and parsed body. */
  ingest(body: unknown, token?: string): Promise<{ status: number; body: any }>;
  /** Ingests and fails the test unless the server answered 202. */
  ingestOk(body: unknown): Promise<any>;
  /** Connects a client as this user (a token signed with the test secret). */
  connect(userId: string, claims?: Record<string, unknown>): Promise<TestClient>;
  clients: TestClient[];
}

/** Boots the real service on port 0 with the memory engine and test settings; env overrides win. */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const config = loadConfig({
    PORT: '0',
    GLOBAL_SECRET: TEST_SECRET,
    INGEST_TOKEN,
    LOG_LEVEL: 'silent',
    // Many apps in one process, and replicas side by side: each takes a free port for /metrics.
    METRICS_PORT: '0',
    ...GENEROUS_LIMITS,
    ...env,
  });
  const running = await createApp(config);
  const clients: TestClient[] = [];
  // Served over TLS (TLS_CERT_FILE/TLS_KEY_FILE): the tests' certificates are self-signed, so clients accept any.
  const tls = running.httpUrl.startsWith('https:');
  const ingest = async (body: unknown, token = INGEST_TOKEN) => {
    const request = {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    };
    const res = tls ? await insecureHttps(`${running.httpUrl}/v1/events`, request) : await fetch(`${running.httpUrl}/v1/events`, request);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as any };
  };
  return {
    ...running,
    clients,
    ingest,
    async ingestOk(body: unknown) {
      const r = await ingest(body);
      if (r.status !== 202) throw new Error(`ingest answered ${r.status}: ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async connect(userId: string, claims: Record<string, unknown> = {}) {
      const c = await TestClient.connect(`${running.wsUrl}?token=${encodeURIComponent(`JWT ${userToken(userId, claims)}`)}`, {
        ...(tls ? { ws: { rejectUnauthorized: false } } : {}),
      });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await running.close();
    },
  };
}

/**
 * An HTTPS request that accepts any server certificate (the tests' are self-signed); answers like fetch's
 * Response as far as the tests use it. Global fetch takes no TLS options without the undici package.
 */
export function insecureHttps(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text(): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: init.method ?? 'GET', headers: init.headers, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: () => Promise.resolve(text) });
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}
