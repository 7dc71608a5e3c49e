import { JwtService } from '@nestjs/jwt';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { prepareVerificationKey } from './jwt-key';
import { TokenVerifier } from './token-verifier';

const SECRET = 'unit-test-secret';
const now = () => Math.floor(Date.now() / 1000);

interface Checks {
  clockSkewS?: number;
  audience?: string;
  issuer?: string;
}

function verifierFor(opts: { publicKey?: string; secret?: string }, checks: Checks = {}): TokenVerifier {
  const key = prepareVerificationKey(opts);
  return new TokenVerifier(
    new JwtService({
      publicKey: key.key,
      verifyOptions: {
        algorithms: key.algorithms,
        clockTolerance: checks.clockSkewS ?? 30,
        ...(checks.audience ? { audience: checks.audience } : {}),
        ...(checks.issuer ? { issuer: checks.issuer } : {}),
      },
    }),
  );
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A token built by hand, for algorithms and keys that jsonwebtoken would refuse to sign with. */
function handMade(header: Record<string, unknown>, claims: Record<string, unknown>, hmacKey?: string): string {
  const body = `${b64url(header)}.${b64url(claims)}`;
  const sig = hmacKey === undefined ? '' : createHmac('sha256', hmacKey).update(body).digest('base64url');
  return `${body}.${sig}`;
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPublicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const ecPublicPem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();

describe('prepareVerificationKey: algorithms follow the key type only', () => {
  it('a secret allows HS256/384/512 only', () => {
    expect(prepareVerificationKey({ secret: SECRET })).toMatchObject({ kind: 'secret', algorithms: ['HS256', 'HS384', 'HS512'] });
  });

  it('an RSA public key allows RS* and PS*, never HS* or none', () => {
    const k = prepareVerificationKey({ publicKey: rsaPublicPem });
    expect(k.kind).toBe('rsa');
    expect([...k.algorithms].sort()).toEqual(['PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512']);
  });

  it('a P-256 key allows ES256 only', () => {
    expect(prepareVerificationKey({ publicKey: ecPublicPem })).toMatchObject({ kind: 'ec', algorithms: ['ES256'] });
  });

  it('the public key wins over a secret when both are given', () => {
    expect(prepareVerificationKey({ publicKey: rsaPublicPem, secret: SECRET }).kind).toBe('rsa');
  });

  it('no key at all, or an unsupported key type, is an error at start', () => {
    expect(() => prepareVerificationKey({})).toThrow();
    const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => prepareVerificationKey({ publicKey: ed })).toThrow(/unsupported key type/);
  });
});

describe('TokenVerifier with a shared secret (HS256)', () => {
  const verifier = verifierFor({ secret: SECRET });

  it('accepts a token signed with the secret and yields the principal', () => {
    const token = jwt.sign({ _id: 'u1', firstname: 'Ada', email: 'ada@example.test', sub: 'user' }, SECRET, { algorithm: 'HS256' });
    expect(verifier.verify(token)).toEqual({ ok: true, principal: { userId: 'u1', firstname: 'Ada', email: 'ada@example.test' } });
  });

  it('accepts HS512 too', () => {
    const token = jwt.sign({ _id: 'u1' }, SECRET, { algorithm: 'HS512' });
    expect(verifier.verify(token)).toMatchObject({ ok: true, principal: { userId: 'u1' } });
  });

  it('carries exp as expiresAt', () => {
    const exp = now() + 600;
    const token = jwt.sign({ _id: 'u1', exp }, SECRET, { algorithm: 'HS256' });
    expect(verifier.verify(token)).toMatchObject({ ok: true, principal: { expiresAt: exp * 1000 } });
  });

  it('refuses a token signed with another secret', () => {
    const token = jwt.sign({ _id: 'u1' }, 'another-secret', { algorithm: 'HS256' });
    expect(verifier.verify(token)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses alg none', () => {
    const token = handMade({ alg: 'none', typ: 'JWT' }, { _id: 'u1' });
    expect(verifier.verify(token)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses a tampered payload (signature no longer matches)', () => {
    const token = jwt.sign({ _id: 'u1' }, SECRET, { algorithm: 'HS256' });
    const [header, , sig] = token.split('.');
    const forged = `${header}.${b64url({ _id: 'admin-user' })}.${sig}`;
    expect(verifier.verify(forged)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses a tampered signature', () => {
    const token = jwt.sign({ _id: 'u1' }, SECRET, { algorithm: 'HS256' });
    const [header, payload, sig] = token.split('.');
    const flipped = Buffer.from(sig!, 'base64url');
    flipped[0] = flipped[0]! ^ 0xff;
    expect(verifier.verify(`${header}.${payload}.${flipped.toString('base64url')}`)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses an RS256 token when the server holds a secret', () => {
    const token = jwt.sign({ _id: 'u1' }, rsa.privateKey, { algorithm: 'RS256' });
    expect(verifier.verify(token)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses a missing token and garbage', () => {
    expect(verifier.verify(undefined)).toMatchObject({ ok: false, reason: 'missing' });
    expect(verifier.verify('')).toMatchObject({ ok: false, reason: 'missing' });
    expect(verifier.verify('not-a-jwt')).toMatchObject({ ok: false, reason: 'invalid' });
    expect(verifier.verify('a.b.c')).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('refuses a validly signed guest token and a token without user id, with their reasons', () => {
    expect(verifier.verify(jwt.sign({ _id: 'g1', sub: 'guest' }, SECRET))).toMatchObject({ ok: false, reason: 'guest' });
    expect(verifier.verify(jwt.sign({ sub: 'user', email: 'x@example.test' }, SECRET))).toMatchObject({ ok: false, reason: 'no_user_id' });
  });

  it('every refusal has a human-readable message', () => {
    const r = verifier.verify('not-a-jwt');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message.length).toBeGreaterThan(0);
  });
});

describe('TokenVerifier: exp and nbf', () => {
  it('refuses an expired token with reason expired', () => {
    const verifier = verifierFor({ secret: SECRET }, { clockSkewS: 0 });
    const token = jwt.sign({ _id: 'u1', exp: now() - 60 }, SECRET);
    expect(verifier.verify(token)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('accepts a token expired by less than the clock tolerance', () => {
    const verifier = verifierFor({ secret: SECRET }, { clockSkewS: 30 });
    const token = jwt.sign({ _id: 'u1', exp: now() - 10 }, SECRET);
    expect(verifier.verify(token)).toMatchObject({ ok: true });
  });

  it('refuses a token expired by more than the clock tolerance', () => {
    const verifier = verifierFor({ secret: SECRET }, { clockSkewS: 30 });
    const token = jwt.sign({ _id: 'u1', exp: now() - 120 }, SECRET);
    expect(verifier.verify(token)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('refuses a token whose nbf is in the future beyond the tolerance', () => {
    const verifier = verifierFor({ secret: SECRET }, { clockSkewS: 30 });
    const token = jwt.sign({ _id: 'u1', nbf: now() + 600 }, SECRET);
    expect(verifier.verify(token)).toMatchObject({ ok: false, reason: 'not_before' });
  });

  it('accepts an nbf slightly in the future, within the tolerance', () => {
    const verifier = verifierFor({ secret: SECRET }, { clockSkewS: 30 });
    const token = jwt.sign({ _id: 'u1', nbf: now() + 5 }, SECRET);
    expect(verifier.verify(token)).toMatchObject({ ok: true });
  });

  it('accepts a token without exp (Tiledesk tokens usually have none)', () => {
    const verifier = verifierFor({ secret: SECRET }, { clockSkewS: 0 });
    expect(verifier.verify(jwt.sign({ _id: 'u1' }, SECRET))).toMatchObject({ ok: true });
  });
});

describe('TokenVerifier: audience and issuer', () => {
  const tiledesk = 'https://tiledesk.com';

  it('not configured: aud and iss are not checked', () => {
    const verifier = verifierFor({ secret: SECRET });
    expect(verifier.verify(jwt.sign({ _id: 'u1', aud: 'elsewhere', iss: 'someone' }, SECRET))).toMatchObject({ ok: true });
  });

  it('JWT_AUDIENCE set: the right aud passes, a wrong or missing aud is refused', () => {
    const verifier = verifierFor({ secret: SECRET }, { audience: tiledesk });
    expect(verifier.verify(jwt.sign({ _id: 'u1' }, SECRET, { audience: tiledesk }))).toMatchObject({ ok: true });
    expect(verifier.verify(jwt.sign({ _id: 'u1' }, SECRET, { audience: 'https://evil.example' }))).toMatchObject({
      ok: false,
      reason: 'invalid',
    });
    expect(verifier.verify(jwt.sign({ _id: 'u1' }, SECRET))).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('JWT_ISSUER set: the right iss passes, a wrong or missing iss is refused', () => {
    const verifier = verifierFor({ secret: SECRET }, { issuer: tiledesk });
    expect(verifier.verify(jwt.sign({ _id: 'u1' }, SECRET, { issuer: tiledesk }))).toMatchObject({ ok: true });
    expect(verifier.verify(jwt.sign({ _id: 'u1' }, SECRET, { issuer: 'https://evil.example' }))).toMatchObject({
      ok: false,
      reason: 'invalid',
    });
    expect(verifier.verify(jwt.sign({ _id: 'u1' }, SECRET))).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('a Tiledesk-signed token (aud, iss, sub=user, jwtid) passes when both are enforced', () => {
    const verifier = verifierFor({ secret: SECRET }, { audience: tiledesk, issuer: tiledesk });
    const token = jwt.sign({ _id: 'u1', email: 'a@example.test' }, SECRET, {
      audience: tiledesk,
      issuer: tiledesk,
      subject: 'user',
      jwtid: '0b8e5c1a-1111-4222-8333-944445555666',
    });
    expect(verifier.verify(token)).toMatchObject({ ok: true, principal: { userId: 'u1' } });
  });
});

describe('TokenVerifier with public keys', () => {
  it('RS256 with an RSA key pair: accepted', () => {
    const verifier = verifierFor({ publicKey: rsaPublicPem });
    const token = jwt.sign({ _id: 'u1' }, rsa.privateKey, { algorithm: 'RS256' });
    expect(verifier.verify(token)).toMatchObject({ ok: true, principal: { userId: 'u1' } });
  });

  it('PS256 with the same RSA key: accepted', () => {
    const verifier = verifierFor({ publicKey: rsaPublicPem });
    const token = jwt.sign({ _id: 'u1' }, rsa.privateKey, { algorithm: 'PS256' });
    expect(verifier.verify(token)).toMatchObject({ ok: true });
  });

  it('RS256 signed by another RSA key: refused', () => {
    const verifier = verifierFor({ publicKey: rsaPublicPem });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const token = jwt.sign({ _id: 'u1' }, other.privateKey, { algorithm: 'RS256' });
    expect(verifier.verify(token)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('key confusion: HS256 signed with the PEM text of the server RSA public key is refused', () => {
    const verifier = verifierFor({ publicKey: rsaPublicPem });
    const token = handMade({ alg: 'HS256', typ: 'JWT' }, { _id: 'u1' }, rsaPublicPem);
    expect(verifier.verify(token)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('alg none is refused with an RSA key too', () => {
    const verifier = verifierFor({ publicKey: rsaPublicPem });
    expect(verifier.verify(handMade({ alg: 'none' }, { _id: 'u1' }))).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('ES256 with a P-256 key pair: accepted', () => {
    const verifier = verifierFor({ publicKey: ecPublicPem });
    const token = jwt.sign({ _id: 'u1' }, ec.privateKey, { algorithm: 'ES256' });
    expect(verifier.verify(token)).toMatchObject({ ok: true, principal: { userId: 'u1' } });
  });

  it('key confusion with an EC key: HS256 signed with its PEM text is refused', () => {
    const verifier = verifierFor({ publicKey: ecPublicPem });
    expect(verifier.verify(handMade({ alg: 'HS256' }, { _id: 'u1' }, ecPublicPem))).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('an expired RS256 token is refused with reason expired', () => {
    const verifier = verifierFor({ publicKey: rsaPublicPem }, { clockSkewS: 0 });
    const token = jwt.sign({ _id: 'u1', exp: now() - 60 }, rsa.privateKey, { algorithm: 'RS256' });
    expect(verifier.verify(token)).toMatchObject({ ok: false, reason: 'expired' });
  });
});
