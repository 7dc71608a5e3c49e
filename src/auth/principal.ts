/** The authenticated user behind a connection, from its token (protocol.md §1). */
export interface Principal {
  userId: string;
  firstname?: string;
  lastname?: string;
  email?: string;
  /** Token expiry, epoch milliseconds, when the token has one. */
  expiresAt?: number;
}

export type PrincipalResult = { ok: true; principal: Principal } | { ok: false; reason: 'guest' | 'no_user_id' };

const NOT_A_USER = new Set(['user', 'guest']);

/** User id from `_id`, else `_doc._id` (legacy tokens), else `sub` unless it is `user`/`guest`. */
export function principalFromClaims(claims: Record<string, unknown>): PrincipalResult {
  if (claims.sub === 'guest') return { ok: false, reason: 'guest' };
  const doc = typeof claims._doc === 'object' && claims._doc !== null ? (claims._doc as Record<string, unknown>) : undefined;
  let userId = idString(claims._id) ?? idString(doc?._id);
  if (userId === undefined && typeof claims.sub === 'string' && claims.sub !== '' && !NOT_A_USER.has(claims.sub)) {
    userId = claims.sub;
  }
  if (userId === undefined) return { ok: false, reason: 'no_user_id' };
  const principal: Principal = { userId };
  for (const field of ['firstname', 'lastname', 'email'] as const) {
    const v = claims[field] ?? doc?.[field];
    if (typeof v === 'string') principal[field] = v;
  }
  if (typeof claims.exp === 'number') principal.expiresAt = claims.exp * 1000;
  return { ok: true, principal };
}

function idString(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

/** `?token=JWT%20eyJ...`, a bare JWT, or `Authorization: Bearer|JWT <jwt>`. */
export function extractToken(url: string | undefined, authorization: string | undefined): string | undefined {
  if (authorization) {
    const m = /^\s*(?:Bearer|JWT)\s+(\S+)\s*$/i.exec(authorization);
    if (m) return m[1];
  }
  const q = url?.indexOf('?') ?? -1;
  if (url === undefined || q < 0) return undefined;
  const raw = new URLSearchParams(url.slice(q + 1)).get('token');
  if (raw === null) return undefined;
  // Strip the prefix before trimming, so that a lone `JWT ` reads as no token rather than the token "JWT".
  const token = raw.replace(/^\s*JWT\s+/i, '').trim();
  return token === '' ? undefined : token;
}
