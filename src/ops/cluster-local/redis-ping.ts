import Redis from 'ioredis';

/**
 * Resolves once a redis-server just started on 127.0.0.1:`port` answers PING. Rejects, with the server's output,
 * when `server.exited` says it is gone or after `timeoutMs`. Used by cluster:local and by the tests' RedisServer.
 */
export async function waitRedisAnswers(
  port: number,
  timeoutMs: number,
  server: { readonly exited: boolean; readonly output: string },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exited) throw new Error(`redis-server exited during start:\n${server.output.trim()}`);
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined); // not listening yet: connect() rejects, which is all this loop needs
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      return;
    } catch {
      client.disconnect();
    }
    if (Date.now() > deadline)
      throw new Error(`redis-server did not answer on 127.0.0.1:${port} within ${timeoutMs} ms:\n${server.output.trim()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
