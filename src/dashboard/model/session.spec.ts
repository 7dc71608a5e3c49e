import { cleanToken, fragmentFor, isExpired, parseFragment, readClaims, socketUrl } from './session';

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwtOf = (claims: unknown) => `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.sig`;

describe('parseFragment', () => {
  it('reads token and project, without a JWT prefix, URL-decoded', () => {
    expect(parseFragment('#token=JWT%20abc.def.ghi&project=p1')).toEqual({ token: 'abc.def.ghi', project: 'p1' });
    expect(parseFragment('#project=p1')).toEqual({ project: 'p1' });
    expect(parseFragment('')).toEqual({});
  });

  it('writes back the project only', () => {
    expect(fragmentFor('p 1')).toBe('#project=p+1');
    expect(parseFragment(fragmentFor('p 1'))).toEqual({ project: 'p 1' });
    expect(fragmentFor(undefined)).toBe('');
  });

  it('cleans a pasted token', () => {
    expect(cleanToken('  Bearer a.b.c \n')).toBe('a.b.c');
    expect(cleanToken('jwt a.b.c')).toBe('a.b.c');
  });
});

describe('readClaims', () => {
  it('reads the user id as the service does, the expiry and the name', () => {
    expect(readClaims(jwtOf({ _id: 'u1', exp: 100, firstname: 'Ada', lastname: 'L' }))).toEqual({
      userId: 'u1',
      expiresAtMs: 100_000,
      name: 'Ada L',
    });
    expect(readClaims(jwtOf({ _doc: { _id: 'u2' } }))?.userId).toBe('u2');
    expect(readClaims(jwtOf({ sub: 'u3' }))?.userId).toBe('u3');
    expect(readClaims(jwtOf({ sub: 'user' }))?.userId).toBeUndefined();
    expect(readClaims(jwtOf({ _id: 'é-ü' }))?.userId).toBe('é-ü');
  });

  it('answers null for what is not a JWT', () => {
    expect(readClaims('garbage')).toBeNull();
    expect(readClaims('a.%%%.c')).toBeNull();
    expect(readClaims(`a.${b64url(7)}.c`)).toBeNull();
  });

  it('tells an expired token', () => {
    expect(isExpired({ expiresAtMs: 1000 }, 1000)).toBe(true);
    expect(isExpired({ expiresAtMs: 1001 }, 1000)).toBe(false);
    expect(isExpired({}, 1000)).toBe(false);
    expect(isExpired(null, 1000)).toBe(false);
  });
});

describe('socketUrl', () => {
  it("is the page's origin with ws: or wss: and the service's path", () => {
    expect(socketUrl({ protocol: 'http:', host: 'localhost:3000' }, '/')).toBe('ws://localhost:3000/');
    expect(socketUrl({ protocol: 'https:', host: 'desk.example.test' }, '/v2/')).toBe('wss://desk.example.test/v2/');
  });
});
