import Redis, { Cluster } from 'ioredis';
import { RedisCluster, RedisServer } from './helpers/redis-server';

describe('test redis servers', () => {
  it('starts a server, survives a kill and a relaunch on the same port', async () => {
    const s = await RedisServer.start();
    const c = new Redis(s.url);
    await c.set('k', 'v');
    expect(await c.get('k')).toBe('v');
    c.disconnect();
    await s.kill();
    await s.launch();
    const c2 = new Redis(s.url);
    expect(await c2.get('k')).toBeNull(); // no persistence: it comes back empty
    c2.disconnect();
    await s.stop();
  });

  it('starts a three-master cluster', async () => {
    const cluster = await RedisCluster.start();
    const c = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    await c.set('{a}x', '1');
    expect(await c.get('{a}x')).toBe('1');
    expect(
      String(await c.cluster('NODES'))
        .split('\n')
        .filter((l: string) => l.includes('master')).length,
    ).toBe(3);
    c.disconnect();
    await cluster.stop();
  });
});
