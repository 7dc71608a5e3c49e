import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { Principal, principalFromClaims } from './principal';

export type AuthFailureReason = 'missing' | 'expired' | 'not_before' | 'invalid' | 'guest' | 'no_user_id';

export type VerifyResult = { ok: true; principal: Principal } | { ok: false; reason: AuthFailureReason; message: string };

const MESSAGES: Record<AuthFailureReason, string> = {
  missing: 'missing token: pass ?token=<jwt> or an Authorization: Bearer <jwt> header',
  expired: 'token expired',
  not_before: 'token not valid yet',
  invalid: 'invalid token',
  guest: 'guest tokens cannot use the Realtime API: it is for project members',
  no_user_id: 'token carries no user id (_id, _doc._id or sub)',
};

/** Verifies client JWTs with the key and checks configured in the JwtModule (see auth.module.ts). */
@Injectable()
export class TokenVerifier {
  constructor(private readonly jwt: JwtService) {}

  verify(token: string | undefined): VerifyResult {
    if (!token) return fail('missing');
    let claims: unknown;
    try {
      claims = this.jwt.verify<Record<string, unknown>>(token);
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'TokenExpiredError') return fail('expired');
      if (name === 'NotBeforeError') return fail('not_before');
      return fail('invalid');
    }
    if (typeof claims !== 'object' || claims === null) return fail('invalid');
    const result = principalFromClaims(claims as Record<string, unknown>);
    return result.ok ? result : fail(result.reason);
  }
}

function fail(reason: AuthFailureReason): VerifyResult {
  return { ok: false, reason, message: MESSAGES[reason] };
}
