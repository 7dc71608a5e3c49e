import type { IncomingMessage } from 'node:http';
import { ClientTransport, addressKey } from './client-transport';

function req(remoteAddress: string, headers: Record<string, string> = {}, encrypted = false): IncomingMessage {
  return { socket: { remoteAddress, encrypted }, connection: { remoteAddress }, headers } as unknown as IncomingMessage;
}

describe('ClientTransport (TRUST_PROXY with Express trust proxy semantics)', () => {
  const xff = { 'x-forwarded-for': '203.0.113.7, 10.0.0.2', 'x-forwarded-proto': 'https' };

  it('trusts no proxy by default: X-Forwarded-* are ignored', () => {
    const t = new ClientTransport(false);
    expect(t.clientIp(req('10.0.0.1', xff))).toBe('10.0.0.1');
    expect(t.isSecure(req('10.0.0.1', xff))).toBe(false);
    expect(t.isSecure(req('10.0.0.1', {}, true))).toBe(true);
  });

  it('with a hop count, takes the address that many hops back', () => {
    expect(new ClientTransport(1).clientIp(req('10.0.0.1', xff))).toBe('10.0.0.2');
    expect(new ClientTransport(2).clientIp(req('10.0.0.1', xff))).toBe('203.0.113.7');
    expect(new ClientTransport(1).isSecure(req('10.0.0.1', xff))).toBe(true);
  });

  it('with addresses or subnets, skips only the trusted ones', () => {
    const t = new ClientTransport(['10.0.0.0/8']);
    expect(t.clientIp(req('10.0.0.1', xff))).toBe('203.0.113.7');
    // An untrusted peer's headers count for nothing, whatever they say.
    expect(t.clientIp(req('198.51.100.1', xff))).toBe('198.51.100.1');
    expect(t.isSecure(req('198.51.100.1', xff))).toBe(false);
    expect(new ClientTransport(['loopback']).isSecure(req('127.0.0.1', { 'x-forwarded-proto': 'https, http' }))).toBe(true);
    expect(new ClientTransport(['loopback']).isSecure(req('127.0.0.1', { 'x-forwarded-proto': 'http' }))).toBe(false);
  });

  it('with true, trusts every hop: the leftmost address is the client', () => {
    expect(new ClientTransport(true).clientIp(req('10.0.0.1', xff))).toBe('203.0.113.7');
  });
});

describe('addressKey (what RATE_CONN_PER_IP_PER_MIN counts under)', () => {
  it('keeps IPv4, folds IPv6 to its /64 and IPv4-mapped addresses to IPv4', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(addressKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('unknown')).toBe('unknown');
  });
});
