import type { IncomingMessage } from 'node:http';
import WebSocket, { ClientOptions } from 'ws';
import { HandshakeRefusal, parseHandshakeRefusal } from './handshake-refusal';
import { RealtimeClient as BrowserRealtimeClient, RealtimeClientOptions, WebSocketConstructorLike } from './realtime-client';

/**
 * The typed client's Node entry: the API of `./index`, with `ws` as the WebSocket (Node 20 has no global one),
 * which, unlike a browser's, sees a refused upgrade's HTTP status and JSON body: the client turns a 401 into
 * `unauthorized` and a 429 into `rate_limited` with its Retry-After.
 */

export * from './index';

/** How long a refused upgrade's body may take to arrive before the socket is dropped without it. */
const REFUSAL_BODY_TIMEOUT_MS = 5000;

/** `ws`'s WebSocket, plus `handshakeRefusal`: the answer to a refused upgrade, set before the close event. */
export class NodeWebSocket extends WebSocket {
  handshakeRefusal: HandshakeRefusal | null = null;

  constructor(url: string, options?: ClientOptions) {
    super(url, options);
    this.on('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      const done = () => {
        clearTimeout(timer);
        const retryAfter = res.headers['retry-after'];
        this.handshakeRefusal ??= parseHandshakeRefusal(res.statusCode ?? 0, body, typeof retryAfter === 'string' ? retryAfter : null);
        this.terminate();
      };
      const timer = setTimeout(done, REFUSAL_BODY_TIMEOUT_MS);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', done);
      res.on('error', done);
    });
  }
}

/** A NodeWebSocket with `ws` options (TLS `ca` or `rejectUnauthorized`, `headers`, `localAddress`, ...). */
export function nodeWebSocket(options: ClientOptions): WebSocketConstructorLike {
  return class extends NodeWebSocket {
    constructor(url: string) {
      super(url, options);
    }
  };
}

/** The client with NodeWebSocket unless another WebSocket is given. */
export class RealtimeClient extends BrowserRealtimeClient {
  constructor(opts: RealtimeClientOptions) {
    super({ ...opts, WebSocket: opts.WebSocket ?? NodeWebSocket });
  }
}
