import { KeyObject, X509Certificate, createPublicKey, createSecretKey } from 'node:crypto';
import type { Algorithm } from 'jsonwebtoken';

/**
 * The verification key, prepared once. A KeyObject matters for speed: given a string secret,
 * jsonwebtoken first tries (and fails) to parse it as a public key on every verify, about 0.5 ms each.
 * The accepted algorithms follow the key type and nothing else, which also rules out `alg: none` and
 * HS-with-a-public-key (key confusion).
 */
export interface VerificationKey {
  key: KeyObject;
  algorithms: Algorithm[];
  kind: 'secret' | 'rsa' | 'ec';
}

const HS: Algorithm[] = ['HS256', 'HS384', 'HS512'];
const RSA: Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const RSA_PSS: Algorithm[] = ['PS256', 'PS384', 'PS512'];
const EC: Record<string, Algorithm> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

export function prepareVerificationKey(opts: { publicKey?: string; secret?: string }): VerificationKey {
  if (opts.publicKey) {
    const pem = opts.publicKey;
    const key = pem.includes('BEGIN CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(pem);
    switch (key.asymmetricKeyType) {
      case 'rsa':
        return { key, algorithms: RSA, kind: 'rsa' };
      case 'rsa-pss':
        return { key, algorithms: RSA_PSS, kind: 'rsa' };
      case 'ec': {
        const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
        const alg = EC[curve];
        if (!alg) throw new Error(`GLOBAL_SECRET_OR_PUB_KEY: unsupported EC curve ${curve}`);
        return { key, algorithms: [alg], kind: 'ec' };
      }
      default:
        throw new Error(`GLOBAL_SECRET_OR_PUB_KEY: unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
    }
  }
  if (!opts.secret) throw new Error('no JWT key configured');
  return { key: createSecretKey(Buffer.from(opts.secret, 'utf8')), algorithms: HS, kind: 'secret' };
}
