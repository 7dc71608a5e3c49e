import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { freePort } from '../../lib/processes';

/**
 * The Socket.IO + Redis peer of the benchmarks: `processes` server processes (socketio-server.main) on free
 * loopback ports sharing one Redis, and a client that subscribes to topics and hands over each `publish` packet.
 */

export interface SocketIoPeer {
  /** Base URL of each process (`http://127.0.0.1:<port>`), for clients and for ingest. */
  readonly urls: string[];
  /** OS process ids, to read their RSS and CPU time. */
  readonly pids: number[];
  ingestUrl(i: number): string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const SUBSCRIBE_TIMEOUT_MS = 10_000;

/** The engine.io text of a `publish` event in the default namespace: message type 4, then socket.io EVENT 2. */
const PUBLISH_PACKET_PREFIX = '2["publish",';

// Compiled (dist-bench, `npm run bench`): run the .js next to this file. From the sources (ts-jest in `npm test`):
// transpile the .ts on require with the project's TypeScript, so no build step is needed.
const TS_REQUIRE_HOOK = `
const ts = require(process.argv[1]);
const fs = require('node:fs');
require.extensions['.ts'] = (m, file) => {
  const options = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true };
  m._compile(ts.transpileModule(fs.readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file }).outputText, file);
};
require(process.argv[2]);
`;

function serverArgs(): string[] {
  const js = join(__dirname, 'socketio-server.main.js');
  if (existsSync(js)) return [js];
  return ['-e', TS_REQUIRE_HOOK, require.resolve('typescript'), join(__dirname, 'socketio-server.main.ts')];
}

function exited(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (exited(proc)) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await done;
  clearTimeout(timer);
}

async function startProcess(redisUrl: string): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const proc = spawn(process.execPath, serverArgs(), {
    env: { ...process.env, PORT: String(port), REDIS_URL: redisUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString()).slice(-4000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited(proc)) throw new Error(`socket.io peer exited during start: ${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) return { proc, url };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stopProcess(proc);
      throw new Error(`socket.io peer not ready on ${port}: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startSocketIoPeer(opts: { redisUrl: string; processes?: number }): Promise<SocketIoPeer> {
  const count = opts.processes ?? 2;
  const started = await Promise.allSettled(Array.from({ length: count }, () => startProcess(opts.redisUrl)));
  const procs = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value.proc] : []));
  const failure = started.find((s) => s.status === 'rejected');
  if (failure) {
    await Promise.all(procs.map(stopProcess));
    throw failure.reason;
  }
  const urls = started.map((s) => (s as PromiseFulfilledResult<{ url: string }>).value.url);
  return {
    urls,
    pids: procs.map((p) => p.pid!),
    ingestUrl: (i) => `${urls[i]}/v1/events`,
    stop: async () => {
      await Promise.all(procs.map(stopProcess));
    },
  };
}

/**
 * A socket.io-client connection (websocket transport only, no reconnection: the load generator decides when to
 * reconnect) subscribed to every topic of `topics` (one `subscribe` each, all sent at once); resolves once the
 * server acknowledged all of them (at once when `topics` is empty).
 *
 * `onFrameText` gets the raw text of each `publish` packet as it came off the wire (taken from the engine.io
 * layer, so it costs nothing extra). socket.io-client still decodes every packet with JSON.parse before it
 * emits events: that cost is inherent to the client library and lands on the load generator.
 */
export function connectSocketIoClient(
  url: string,
  topics: readonly string[],
  onFrameText: (text: string) => void,
  localAddress?: string,
): Promise<{ close(): void }> {
  // engine.io-client passes localAddress through to `ws` in Node; its typings do not list it.
  const options = { transports: ['websocket'], forceNew: true, reconnection: false, localAddress };
  const socket = io(url, options);
  socket.io.engine.on('data', (data: unknown) => {
    if (typeof data === 'string' && data.startsWith(PUBLISH_PACKET_PREFIX)) onFrameText(data);
  });
  const close = (): void => {
    socket.disconnect();
  };
  const subscribe = async (topic: string): Promise<void> => {
    const reply = (await socket.timeout(SUBSCRIBE_TIMEOUT_MS).emitWithAck('subscribe', topic)) as { error?: string } | undefined;
    if (reply?.error) throw new Error(`subscribe ${topic}: ${reply.error}`);
  };
  return new Promise((resolve, reject) => {
    socket.once('connect_error', (err) => {
      close();
      reject(err);
    });
    socket.once('connect', () => {
      Promise.all(topics.map(subscribe)).then(
        () => resolve({ close }),
        (err: unknown) => {
          close();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  });
}
