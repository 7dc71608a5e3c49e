import { execFileSync } from 'node:child_process';
import amqplib, { ChannelModel, ConfirmChannel } from 'amqplib';

/** The RabbitMQ of this machine (operations: 127.0.0.1:5672, guest/guest). */
export const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/**
 * Publishes to RabbitMQ exactly as Tiledesk does with QUEUE_ENABLED=true (tiledesk-realtime-notes §5): the fanout
 * exchange `ws` declared non-durable, a confirm channel, `publish('ws', <routing key>, Buffer(JSON), {})`.
 */
export class TiledeskFanout {
  private constructor(
    private readonly connection: ChannelModel,
    private readonly channel: ConfirmChannel,
  ) {}

  static async connect(): Promise<TiledeskFanout> {
    let connection: ChannelModel;
    try {
      connection = await amqplib.connect(AMQP_URL);
    } catch (err) {
      throw new Error(
        `RabbitMQ is not reachable at ${AMQP_URL} (${(err as Error).message}): these tests need the broker; start it with \`rabbitmq-server -detached\` (Debian package rabbitmq-server)`,
      );
    }
    const channel = await connection.createConfirmChannel();
    await channel.assertExchange('ws', 'fanout', { durable: false });
    return new TiledeskFanout(connection, channel);
  }

  /** Publishes and waits until the broker confirmed it (it is then in every bound queue). */
  async publish(routingKey: string, body: unknown): Promise<void> {
    const content = typeof body === 'string' ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
    this.channel.publish('ws', routingKey, content, {});
    await this.channel.waitForConfirms();
  }

  /** Messages ready in a queue (not delivered to a consumer yet). */
  async ready(queue: string): Promise<number> {
    return (await this.channel.checkQueue(queue)).messageCount;
  }

  /** Consumers of a queue (0 when it does not exist). */
  async consumers(queue: string): Promise<number> {
    // checkQueue on a missing queue closes the channel: ask on a channel of its own.
    const ch = await this.connection.createChannel();
    ch.on('error', () => undefined);
    try {
      return (await ch.checkQueue(queue)).consumerCount;
    } catch {
      return 0;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  async deleteQueue(queue: string): Promise<void> {
    await this.channel.deleteQueue(queue);
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}

/** Closes every client connection of the broker from its management side, as an operator or a broker restart would. */
export function closeAllBrokerConnections(): void {
  execFileSync('rabbitmqctl', ['close_all_connections', 'test: connection cut mid-stream'], { stdio: 'ignore' });
}
