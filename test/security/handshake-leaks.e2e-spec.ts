import { connect, Socket } from 'node:net';
import type { Server } from 'node:http';
import { startTestApp, TestApp } from '../helpers/test-app';
import { userToken } from '../helpers/tokens';
import { until, waitFor } from '../helpers/wait-for';

/**
 * Handshakes that end badly must not hold anything: a refused client that never closes its side must not keep a
 * socket open on the server, and an upgrade that ws drops after the limits counted it must give its place back.
 */

/** Sends a raw HTTP upgrade request; resolves with the response text once the server has ended its side. */
function rawUpgrade(
  port: number,
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<{ socket: Socket; response: string }> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: the client keeps its side open after the server's FIN, as a hostile client would.
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let response = '';
    socket.on('data', (d: Buffer) => (response += d.toString()));
    socket.on('end', () => resolve({ socket, response }));
    socket.on('error', reject);
    const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

const UPGRADE = {
  Connection: 'Upgrade',
  Upgrade: 'websocket',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version': '13',
};

function openSockets(app: TestApp): Promise<number> {
  const server = app.app.getHttpServer() as Server;
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

describe('handshakes that end badly hold nothing', () => {
  let app: TestApp;
  afterEach(async () => app?.close());

  it('a refused client that never closes its side does not keep its socket open on the server', async () => {
    app = await startTestApp({ RATE_CONN_PER_USER_PER_MIN: '1' });
    const accepted = await app.connect('once'); // uses up the user's rate: the next ones get 429
    accepted.ws.close();
    await accepted.waitClosed();
    await until(async () => (await openSockets(app)) === 0 || null, 'the accepted socket to close');
    const before = await openSockets(app);
    const clients: Socket[] = [];
    try {
      const refusals = [
        rawUpgrade(app.port, '/?token=not-a-jwt', UPGRADE), // 401
        rawUpgrade(app.port, '/nowhere', UPGRADE), // 404
      ];
      for (let i = 0; i < 10; i++) refusals.push(rawUpgrade(app.port, `/?token=${userToken('once')}`, UPGRADE)); // 429
      for (const r of await Promise.all(refusals)) {
        clients.push(r.socket);
        expect(r.response).toMatch(/^HTTP\/1\.1 (401|404|429) /);
        expect(r.response).toContain('"error":{"code":');
      }
      // Every refused socket is closed by the server although its client never closed its side.
      await until(async () => (await openSockets(app)) === before || null, 'the refused sockets to close');
    } finally {
      for (const c of clients) c.destroy();
    }
  });

  it('an upgrade that ws refuses after the limits admitted it gives its place back', async () => {
    app = await startTestApp({ MAX_CONN_PER_USER: '1' });
    const token = userToken('solo');
    const bad = [
      { ...UPGRADE, 'Sec-WebSocket-Version': '7' }, // unsupported version
      { ...UPGRADE, 'Sec-WebSocket-Key': 'short' }, // invalid key
    ];
    for (const headers of bad) {
      const r = await rawUpgrade(app.port, `/?token=${token}`, headers);
      r.socket.destroy();
      expect(r.response).toMatch(/^HTTP\/1\.1 400 /);
    }
    const wrongMethod = await rawUpgrade(app.port, `/?token=${token}`, UPGRADE, 'POST');
    wrongMethod.socket.destroy();
    // Had any of them kept its place, this user (one connection at most) would now be refused.
    const c = await until(() => app.connect('solo').catch(() => null), 'the single place to be free', 3000);
    c.send({ action: 'me' });
    await waitFor(() => c.frames.find((f) => f.action === 'me'));
  });
});
