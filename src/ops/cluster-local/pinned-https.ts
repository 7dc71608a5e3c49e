import { Agent, request } from 'node:https';

export interface HttpsAnswer {
  status: number;
  /** The body as text (JSON for the service's answers). */
  text: string;
}

/**
 * HTTPS to the proxy, trusting exactly its certificate (`ca`: the PEM text of the self-signed certificate)
 * rather than turning verification off: the host name is still checked against the certificate's names.
 * Global fetch takes no TLS options without the undici package, hence node:https.
 */
export class PinnedHttps {
  private readonly agent: Agent;

  constructor(ca: string | undefined, keepAlive = true) {
    this.agent = new Agent({ ...(ca ? { ca } : {}), keepAlive, maxSockets: 4 });
  }

  send(
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
  ): Promise<HttpsAnswer> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method: init.method ?? 'GET', headers: init.headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      });
      req.setTimeout(init.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer from ${url} in time`)));
      req.on('error', reject);
      req.end(init.body);
    });
  }

  /** POST /v1/events with the service token; the parsed 202 body, or an error naming the status and body. */
  async ingest(baseUrl: string, ingestToken: string, batch: unknown): Promise<{ accepted: number; duplicates: number; stale: number }> {
    const res = await this.send(`${baseUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ingestToken}` },
      body: JSON.stringify(batch),
    });
    if (res.status !== 202) throw new Error(`POST ${baseUrl}/v1/events answered ${res.status}: ${res.text.slice(0, 300)}`);
    return JSON.parse(res.text) as { accepted: number; duplicates: number; stale: number };
  }

  /** Polls `<baseUrl>/readyz` until it answers 200, or throws with the last answer or error at the deadline. */
  async waitReady(baseUrl: string, timeoutMs: number, stillWorthWaiting: () => string | null = () => null): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    for (;;) {
      const fatal = stillWorthWaiting();
      if (fatal) throw new Error(fatal);
      try {
        const res = await this.send(`${baseUrl}/readyz`, { timeoutMs: 2000 });
        if (res.status === 200) return;
        last = `${res.status} ${res.text.slice(0, 200)}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) throw new Error(`${baseUrl}/readyz did not answer 200 within ${timeoutMs} ms (last: ${last})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  close(): void {
    this.agent.destroy();
  }
}
