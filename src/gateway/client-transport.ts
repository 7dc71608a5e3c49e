import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import ipaddr from 'ipaddr.js';
import proxyaddr from 'proxy-addr';
import { TrustProxy } from '../config/app-config';

type TrustFn = (addr: string, hop: number) => boolean;

/** Express's compilation of its `trust proxy` setting (a boolean, a hop count, or addresses and subnets). */
function compileTrust(trust: TrustProxy): TrustFn {
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
  /** The compiled TRUST_PROXY rule, `(address, hop) => trusted`, as Express's `trust proxy` takes it. */
  readonly trust: TrustFn;
  private readonly trustsNone: boolean;

  constructor(trust: TrustProxy) {
    this.trust = compileTrust(trust);
    this.trustsNone = trust === false || trust === 0 || (Array.isArray(trust) && trust.length === 0);
  }

  /** The client's address: the socket's peer, or the nearest untrusted address of X-Forwarded-For. */
  clientIp(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress;
    if (!peer) return 'unknown';
    return this.trustsNone ? peer : proxyaddr(req, this.trust);
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

/**
 * The key an address's connection rate is counted under: an IPv4 address as it is, an IPv6 one by its /64 (one
 * subscriber's network: a client given a /64 could otherwise take a new address for every connection), and an
 * IPv4-mapped IPv6 address as its IPv4 address.
 */
export function addressKey(ip: string): string {
  if (!ip.includes(':') || !ipaddr.isValid(ip)) return ip; // IPv4 as it is, without parsing
  const addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv4') return addr.toString();
  const v6 = addr as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  return `${v6.parts
    .slice(0, 4)
    .map((p) => p.toString(16))
    .join(':')}::/64`;
}
