/**
 * Where the page gets its token and project: the URL fragment (`#token=...&project=...`, never sent to the
 * server, so it stays out of access logs), else what the user pasted in the sign-in form.
 */

export interface FragmentSession {
  token?: string;
  project?: string;
}

/** Reads `#token=...&project=...`; a `JWT ` prefix (as Tiledesk hands tokens out) is dropped. */
export function parseFragment(hash: string): FragmentSession {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const out: FragmentSession = {};
  const token = cleanToken(params.get('token') ?? '');
  if (token !== '') out.token = token;
  const project = (params.get('project') ?? '').trim();
  if (project !== '') out.project = project;
  return out;
}

/** The fragment the page keeps in the address bar: the project only, so a copied URL carries no token. */
export function fragmentFor(project: string | undefined): string {
  return project === undefined ? '' : `#${new URLSearchParams({ project }).toString()}`;
}

/** A pasted token without the `JWT `/`Bearer ` prefix or surrounding blanks. */
export function cleanToken(raw: string): string {
  return raw
    .trim()
    .replace(/^(JWT|Bearer)\s+/i, '')
    .trim();
}

export interface TokenClaims {
  userId?: string;
  /** Expiry, in milliseconds since the epoch. */
  expiresAtMs?: number;
  name?: string;
}

/**
 * The claims the page uses, read without verifying anything (the service verifies): the user id as the service
 * reads it (protocol.md §1), the expiry, a display name. Null when the token is not a JWT.
 */
export function readClaims(token: string): TokenClaims | null {
  const part = token.split('.')[1];
  if (part === undefined) return null;
  let claims: Record<string, unknown>;
  try {
    const json = decodeBase64Url(part);
    const parsed: unknown = JSON.parse(json);
    if (typeof parsed !== 'object' || parsed === null) return null;
    claims = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  const out: TokenClaims = {};
  const doc = claims._doc as Record<string, unknown> | undefined;
  const id = claims._id ?? doc?._id ?? (claims.sub !== 'user' && claims.sub !== 'guest' ? claims.sub : undefined);
  if (typeof id === 'string' && id !== '') out.userId = id;
  if (typeof claims.exp === 'number') out.expiresAtMs = claims.exp * 1000;
  const name = [claims.firstname, claims.lastname].filter((s) => typeof s === 'string' && s !== '').join(' ');
  if (name !== '') out.name = name;
  return out;
}

export function isExpired(claims: TokenClaims | null, nowMs: number): boolean {
  return claims?.expiresAtMs !== undefined && claims.expiresAtMs <= nowMs;
}

function decodeBase64Url(s: string): string {
  const b64 = s
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(s.length / 4) * 4, '=');
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The socket's URL: the page's own host, `wss:` when the page came over https, and the service's WS_SERVER_PATH. */
export function socketUrl(loc: { protocol: string; host: string }, wsPath: string): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${wsPath.startsWith('/') ? wsPath : `/${wsPath}`}`;
}
