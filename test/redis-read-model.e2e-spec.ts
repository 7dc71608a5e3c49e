import { RedisConnections } from '../src/engine/redis-connections';
import { describeReadModelContract } from '../src/store/read-model.contract';
import { RedisReadModel } from '../src/store/redis/redis-read-model';
import { RedisCluster, RedisServer } from './helpers/redis-server';

/** The ReadModel contract, against a real redis-server and a real 3-master cluster. */

let server: RedisServer;
let connections: RedisConnections;
beforeAll(async () => {
  server = await RedisServer.start();
  connections = new RedisConnections({ url: server.url, prefix: 'rt:', claimIdleMs: 30000, streamMaxLen: 1000 });
  await connections.ready();
});
afterAll(async () => {
  await connections.close();
  await server.stop();
});

describeReadModelContract(
  'RedisReadModel (single redis-server)',
  (opts) => new RedisReadModel(connections, { ...opts, channel: (p) => `rt:p:{${p}}` }),
);

describe('on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let clusterConnections: RedisConnections;
  beforeAll(async () => {
    cluster = await RedisCluster.start();
    clusterConnections = new RedisConnections({
      clusterNodes: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      prefix: 'rt:',
      claimIdleMs: 30000,
      streamMaxLen: 1000,
    });
    await clusterConnections.ready();
  });
  afterAll(async () => {
    await clusterConnections.close();
    await cluster.stop();
  });
  describeReadModelContract(
    'RedisReadModel (cluster)',
    (opts) => new RedisReadModel(clusterConnections, { ...opts, channel: (p) => `rt:p:{${p}}` }),
  );
});
