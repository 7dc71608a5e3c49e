import { afterEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { CONNECTION_RATE_WINDOW_MS, ConnectionLimitValues, ConnectionLimits } from './connection-limits';

/**
 * The behaviour every ConnectionLimits implementation must show (STYLE.md habit 3): the memory engine runs it in
 * its unit spec, the Redis engine against a real redis-server. Each test works with its own user, address and
 * project names, so a shared server needs no flush; time is the injected clock, so a minute passes at once.
 */

export const CONTRACT_LIMITS: ConnectionLimitValues = {
  connPerUserPerMin: 4,
  connPerIpPerMin: 6,
  maxConnPerUser: 3,
  maxConnPerProject: 2,
};

export type LimitsFactory = (values: ConnectionLimitValues, now: () => number) => ConnectionLimits;

export function describeConnectionLimitsContract(name: string, make: LimitsFactory): void {
  describe(`ConnectionLimits contract: ${name}`, () => {
    let clock = 1_000_000;
    const made: ConnectionLimits[] = [];
    const limits = (values: Partial<ConnectionLimitValues> = {}) => {
      const l = make({ ...CONTRACT_LIMITS, ...values }, () => clock);
      made.push(l);
      return l;
    };
    afterEach(async () => {
      for (const l of made.splice(0)) await l.close();
    });
    const fresh = () => randomUUID().slice(0, 8);
    const ticket = (userId: string, ip: string) => ({ connId: randomUUID(), userId, ip });

    it('admits a user up to its rate within a minute, then refuses with the time until the oldest leaves the window', async () => {
      const l = limits({ maxConnPerUser: 100 });
      const user = `u-${fresh()}`;
      for (let i = 0; i < 4; i++) {
        expect(await l.admit(ticket(user, `ip-${fresh()}`))).toEqual({ ok: true });
        clock += 1000;
      }
      const refused = await l.admit(ticket(user, `ip-${fresh()}`));
      expect(refused).toEqual({ ok: false, limit: 'RATE_CONN_PER_USER_PER_MIN', max: 4, retryAfterMs: CONNECTION_RATE_WINDOW_MS - 4000 });
      // Refused attempts count against nothing: once the oldest admission leaves the window, one more gets in.
      clock += CONNECTION_RATE_WINDOW_MS - 4000 + 1;
      expect(await l.admit(ticket(user, `ip-${fresh()}`))).toEqual({ ok: true });
      expect((await l.admit(ticket(user, `ip-${fresh()}`))).ok).toBe(false);
    });

    it('counts an address over every user connecting from it', async () => {
      const l = limits();
      const ip = `ip-${fresh()}`;
      for (let i = 0; i < 6; i++) expect((await l.admit(ticket(`u-${fresh()}`, ip))).ok).toBe(true);
      const refused = await l.admit(ticket(`u-${fresh()}`, ip));
      expect(refused).toMatchObject({ ok: false, limit: 'RATE_CONN_PER_IP_PER_MIN', max: 6 });
      expect((await l.admit(ticket(`u-${fresh()}`, `ip-${fresh()}`))).ok).toBe(true);
    });

    it('caps a user’s open connections; a release frees a place at once', async () => {
      const l = limits({ connPerUserPerMin: 100 });
      const user = `u-${fresh()}`;
      const open = [ticket(user, 'a'), ticket(user, 'b'), ticket(user, 'c')];
      for (const t of open) expect((await l.admit(t)).ok).toBe(true);
      expect(await l.admit(ticket(user, 'd'))).toMatchObject({ ok: false, limit: 'MAX_CONN_PER_USER', max: 3 });
      l.release(open[0]!.connId, user);
      expect((await l.admit(ticket(user, 'e'))).ok).toBe(true);
      expect((await l.admit(ticket(user, 'f'))).ok).toBe(false);
      // Releasing twice, or a connection never admitted, frees nothing more.
      l.release(open[0]!.connId, user);
      l.release(randomUUID(), user);
      expect((await l.admit(ticket(user, 'g'))).ok).toBe(false);
    });

    it('stays exact over thousands of admit/release cycles', async () => {
      const l = limits({ connPerUserPerMin: 1_000_000, connPerIpPerMin: 1_000_000, maxConnPerUser: 2 });
      const user = `u-${fresh()}`;
      for (let i = 0; i < 2000; i++) {
        const t = ticket(user, 'x');
        expect((await l.admit(t)).ok).toBe(true);
        l.release(t.connId, user);
      }
      const a = ticket(user, 'x');
      const b = ticket(user, 'x');
      expect((await l.admit(a)).ok).toBe(true);
      expect((await l.admit(b)).ok).toBe(true);
      expect((await l.admit(ticket(user, 'x'))).ok).toBe(false);
    });

    it('decides handshakes and joins that arrive together exactly, in order', async () => {
      const l = limits({ maxConnPerUser: 100 });
      const user = `u-${fresh()}`;
      const answers = await Promise.all(Array.from({ length: 10 }, () => l.admit(ticket(user, `ip-${fresh()}`))));
      expect(answers.map((a) => a.ok)).toEqual([true, true, true, true, false, false, false, false, false, false]);
      const project = `p-${fresh()}`;
      const joined = await Promise.all(Array.from({ length: 5 }, () => l.joinProject(randomUUID(), project)));
      expect(joined).toEqual([true, true, false, false, false]);
    });

    it('gives a project at most its cap of connections; a connection holds one place however often it joins', async () => {
      const l = limits();
      const project = `p-${fresh()}`;
      const [c1, c2, c3] = [randomUUID(), randomUUID(), randomUUID()];
      expect(await l.joinProject(c1, project)).toBe(true);
      expect(await l.joinProject(c1, project)).toBe(true);
      expect(await l.joinProject(c2, project)).toBe(true);
      expect(await l.joinProject(c3, project)).toBe(false);
      expect(await l.joinProject(c3, `p-${fresh()}`)).toBe(true);
      l.leaveProject(c1, project);
      expect(await l.joinProject(c3, project)).toBe(true);
      expect(await l.joinProject(randomUUID(), project)).toBe(false);
    });
  });
}
