import { Agent, request } from 'node:http';
import { assertLoopback } from './processes';

export interface IngestAnswer {
  status: number;
  body: string;
}

/** `POST /v1/events` over a keep-alive connection pool (plain node:http: little overhead per request). */
export class IngestClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });
  private readonly host: string;
  private readonly port: number;
  private readonly path: string;

  constructor(
    readonly url: string,
    private readonly token?: string,
  ) {
    assertLoopback(url);
    const u = new URL(url);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.path = u.pathname;
  }

  post(body: string): Promise<IngestAnswer> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      if (this.token) headers.authorization = `Bearer ${this.token}`;
      const req = request({ host: this.host, port: this.port, path: this.path, method: 'POST', agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Posts and throws unless the answer is 202. */
  async postOk(body: string): Promise<void> {
    const r = await this.post(body);
    if (r.status !== 202) throw new Error(`ingest ${this.url} answered ${r.status}: ${r.body.slice(0, 300)}`);
  }

  close(): void {
    this.agent.destroy();
  }
}
