import jwt from 'jsonwebtoken';

export const TEST_SECRET = 'test-secret-please-change';

/** A Tiledesk-like user token: `_id` claim, signed with the test secret (HS256). */
export function userToken(userId: string, claims: Record<string, unknown> = {}, secret = TEST_SECRET): string {
  return jwt.sign({ _id: userId, firstname: 'First', lastname: 'Last', email: `${userId}@example.test`, ...claims }, secret, {
    algorithm: 'HS256',
  });
}
