import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GENEROUS_LIMITS, INGEST_TOKEN } from './test-app';
import { freePort } from './redis-server';
import { TEST_SECRET, userToken } from './tokens';
import { TestClient } from './ws-client';

const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');

/**
 * A replica of the service as a separate OS process (the compiled `dist/main.js`, built by `npm test`
 * before jest runs), on a free port, with the test secret and ingest token.
 */
export class ReplicaProcess {
  readonly output: string[] = [];
  private constructor(
    readonly port: number,
    readonly proc: ChildProcess,
    /** Where its Prometheus `/metrics` answers. */
    readonly metricsPort: number,
  ) {
    proc.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()));
    proc.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()));
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  get exited(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  static async start(env: Record<string, string>): Promise<ReplicaProcess> {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
    const port = await freePort();
    const metricsPort = Number(env.METRICS_PORT ?? (await freePort()));
    const proc = spawn(process.execPath, [MAIN], {
      // SHUTDOWN_DRAIN_MS 0: a test that stops a replica with SIGTERM does not wait out a drain window.
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        GLOBAL_SECRET: TEST_SECRET,
        INGEST_TOKEN,
        LOG_LEVEL: 'warn',
        SHUTDOWN_DRAIN_MS: '0',
        METRICS_PORT: String(metricsPort),
        ...GENEROUS_LIMITS,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const replica = new ReplicaProcess(port, proc, metricsPort);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (replica.exited) throw new Error(`replica exited during start: ${replica.output.join('')}`);
      try {
        const r = await fetch(`${replica.httpUrl}/readyz`);
        if (r.status === 200) return replica;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`replica not ready on ${port}: ${replica.output.join('')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async ingest(body: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.httpUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${INGEST_TOKEN}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  async ingestOk(body: unknown): Promise<any> {
    const r = await this.ingest(body);
    if (r.status !== 202) throw new Error(`ingest on ${this.port} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  connect(userId: string): Promise<TestClient> {
    return TestClient.connect(`${this.wsUrl}?token=${userToken(userId)}`);
  }

  async readyz(): Promise<{ status: number; body: any }> {
    const r = await fetch(`${this.httpUrl}/readyz`);
    return { status: r.status, body: (await r.json()) as any };
  }

  /** SIGKILL: the replica dies without cleanup. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exited) return;
    const done = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill(signal);
    await done;
  }
}
