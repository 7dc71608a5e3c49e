import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';

/** Tiledesk signs its user tokens with these (routes/auth.js): issuer and audience, subject `user`. */
export const TILEDESK_AUDIENCE = 'https://tiledesk.com';

export interface TokenUser {
  userId: string;
  firstname: string;
  lastname: string;
  email: string;
}

/**
 * A user token shaped like the ones the Tiledesk REST API hands out (HS256 with the global secret,
 * `_id` + display claims, sub `user`, aud/iss tiledesk.com, a jti, no expiry). jsonwebtoken does the
 * signing, through @nestjs/jwt (a runtime dependency of the service).
 */
export function signUserToken(user: TokenUser, secret: string, opts: { audience?: string; issuer?: string } = {}): string {
  const jwt = new JwtService({ secret });
  return jwt.sign(
    { _id: user.userId, firstname: user.firstname, lastname: user.lastname, email: user.email },
    {
      algorithm: 'HS256',
      subject: 'user',
      audience: opts.audience ?? TILEDESK_AUDIENCE,
      issuer: opts.issuer ?? TILEDESK_AUDIENCE,
      jwtid: randomUUID(),
    },
  );
}
