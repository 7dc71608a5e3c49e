import { extractToken, principalFromClaims } from './principal';

describe('extractToken (protocol.md §1)', () => {
  it('reads ?token=JWT%20<jwt> as the Tiledesk REST token form', () => {
    expect(extractToken('/?token=JWT%20eyJ.abc.def', undefined)).toBe('eyJ.abc.def');
  });

  it('reads ?token=JWT+<jwt> (a + decodes to a space)', () => {
    expect(extractToken('/ws?token=JWT+eyJ.abc.def', undefined)).toBe('eyJ.abc.def');
  });

  it('reads a bare JWT', () => {
    expect(extractToken('/?token=eyJ.abc.def', undefined)).toBe('eyJ.abc.def');
  });

  it('finds the token among other query parameters', () => {
    expect(extractToken('/v2/?lang=it&token=JWT%20eyJ.abc.def&x=1', undefined)).toBe('eyJ.abc.def');
  });

  it('reads Authorization: Bearer <jwt> and Authorization: JWT <jwt>', () => {
    expect(extractToken('/', 'Bearer eyJ.abc.def')).toBe('eyJ.abc.def');
    expect(extractToken('/', 'JWT eyJ.abc.def')).toBe('eyJ.abc.def');
    expect(extractToken(undefined, 'bearer eyJ.abc.def')).toBe('eyJ.abc.def');
  });

  it('no token anywhere: undefined', () => {
    expect(extractToken('/', undefined)).toBeUndefined();
    expect(extractToken('/?other=1', undefined)).toBeUndefined();
    expect(extractToken(undefined, undefined)).toBeUndefined();
  });

  it('an empty token, or just the JWT prefix, is no token', () => {
    expect(extractToken('/?token=', undefined)).toBeUndefined();
    expect(extractToken('/?token=JWT%20', undefined)).toBeUndefined();
  });

  it('an Authorization header of another scheme is not a token, the query still counts', () => {
    expect(extractToken('/', 'Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(extractToken('/?token=eyJ.q.q', 'Basic dXNlcjpwYXNz')).toBe('eyJ.q.q');
  });
});

describe('principalFromClaims (protocol.md §1)', () => {
  it('takes the user id from _id', () => {
    expect(principalFromClaims({ _id: 'u1', sub: 'user' })).toEqual({ ok: true, principal: { userId: 'u1' } });
  });

  it('falls back to _doc._id for legacy tokens', () => {
    expect(principalFromClaims({ _doc: { _id: 'u2', email: 'legacy@example.test' } })).toMatchObject({
      ok: true,
      principal: { userId: 'u2', email: 'legacy@example.test' },
    });
  });

  it('_id wins over _doc._id and sub', () => {
    expect(principalFromClaims({ _id: 'u1', _doc: { _id: 'u2' }, sub: 'u3' })).toMatchObject({ ok: true, principal: { userId: 'u1' } });
  });

  it('falls back to sub when it is a user id', () => {
    expect(principalFromClaims({ sub: 'u3' })).toMatchObject({ ok: true, principal: { userId: 'u3' } });
  });

  it('sub "user" is not a user id', () => {
    expect(principalFromClaims({ sub: 'user' })).toEqual({ ok: false, reason: 'no_user_id' });
  });

  it('refuses guest tokens, even with an _id', () => {
    expect(principalFromClaims({ sub: 'guest', _id: '2b6f3a1e-uuid' })).toEqual({ ok: false, reason: 'guest' });
    expect(principalFromClaims({ sub: 'guest' })).toEqual({ ok: false, reason: 'guest' });
  });

  it('refuses a token without any user id', () => {
    expect(principalFromClaims({})).toEqual({ ok: false, reason: 'no_user_id' });
    expect(principalFromClaims({ _id: '', sub: '' })).toEqual({ ok: false, reason: 'no_user_id' });
    expect(principalFromClaims({ _id: null, _doc: null })).toEqual({ ok: false, reason: 'no_user_id' });
    expect(principalFromClaims({ _id: { $oid: 'x' } })).toEqual({ ok: false, reason: 'no_user_id' });
  });

  it('takes firstname, lastname and email when present, and only strings', () => {
    expect(principalFromClaims({ _id: 'u1', firstname: 'Ada', lastname: 'Lovelace', email: 'ada@example.test' })).toEqual({
      ok: true,
      principal: { userId: 'u1', firstname: 'Ada', lastname: 'Lovelace', email: 'ada@example.test' },
    });
    expect(principalFromClaims({ _id: 'u1', firstname: 42, email: null })).toEqual({ ok: true, principal: { userId: 'u1' } });
  });

  it('turns exp (seconds) into expiresAt (milliseconds)', () => {
    expect(principalFromClaims({ _id: 'u1', exp: 1_800_000_000 })).toMatchObject({ ok: true, principal: { expiresAt: 1_800_000_000_000 } });
    const r = principalFromClaims({ _id: 'u1' });
    expect(r.ok && r.principal.expiresAt).toBeUndefined();
  });
});
