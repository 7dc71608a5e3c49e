import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import proxyaddr from 'proxy-addr';
import { TrustProxy } from '../config/app-config';

type TrustFn = (addr: string, hop: number) => boolean;

/** Express's compilation of its `trust proxy` setting (a boolean, a hop count, or addresses and subnets). */
export function compileTrust(trust: TrustProxy): TrustFn {
  if (trust === true) return () => true;
  if (trust === false) return () => false;
  if (typeof trust === 'number') return (_addr, hop) => hop < trust;
  return proxyaddr.compile([...trust]);
}

/**
 * Where a request came from and whether it arrived over TLS, with TRUST_PROXY deciding which `X-Forwarded-*`
 * headers count (Express `trust proxy` semantics): without it they are ignored, so a client cannot choose the
 * address its per-IP limit is counted under, nor claim TLS it did not use.
 */
export class ClientTransport {
  private readonly trust: TrustFn;

  constructor(trust: TrustProxy) {
    this.trust = compileTrust(trust);
  }

  /** The client's address: the socket's peer, or the nearest untrusted address of X-Forwarded-For. */
  clientIp(req: IncomingMessage): string {
    if (!req.socket.remoteAddress) return 'unknown';
    return proxyaddr(req, this.trust);
  }

  /** TLS on this socket, or `X-Forwarded-Proto: https` (its first value, as Express reads it) from a trusted peer. */
  isSecure(req: IncomingMessage): boolean {
    if ((req.socket as TLSSocket).encrypted) return true;
    const peer = req.socket.remoteAddress;
    if (!peer || !this.trust(peer, 0)) return false;
    const header = req.headers['x-forwarded-proto'];
    const value = Array.isArray(header) ? header[0] : header;
    return value?.split(',', 1)[0]!.trim().toLowerCase() === 'https';
  }
}
