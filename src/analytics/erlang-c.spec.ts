import { MAX_LOAD_ERLANGS, erlangB, erlangC, forecast, significant, slotsNeededForTarget } from './erlang-c';

/** The textbook formula, for small c only (A^c and c! overflow beyond ~170). */
function erlangCNaive(c: number, a: number): number {
  let fact = 1;
  let sum = 0;
  for (let k = 0; k < c; k++) {
    if (k > 0) fact *= k;
    sum += a ** k / fact;
  }
  const top = (a ** c / (fact * c)) * (c / (c - a));
  return top / (sum + top);
}

describe('Erlang C (analytics.md forecast)', () => {
  it('matches the known values of the spec', () => {
    expect(erlangC(11, 10)).toBeCloseTo(0.6821, 4);
    expect(erlangC(12, 10)).toBeCloseTo(0.4494, 4);
    expect(erlangC(3, 2)).toBeCloseTo(0.4444, 4);
  });

  it('agrees with the textbook formula wherever that one can be computed', () => {
    for (const c of [1, 2, 5, 20, 60, 100]) {
      for (const frac of [0.1, 0.5, 0.9, 0.99]) {
        const a = c * frac;
        expect(erlangC(c, a)).toBeCloseTo(erlangCNaive(c, a), 9);
      }
    }
  });

  it('stays finite and in [0, 1] at c = 1000 (no factorial overflow), where the textbook formula gives NaN', () => {
    expect(erlangCNaive(200, 150)).toBeNaN();
    for (const a of [1, 500, 900, 990, 999.9]) {
      const p = erlangC(1000, a);
      expect(Number.isFinite(p)).toBe(true);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(1);
    }
    expect(erlangC(1000, 500)).toBeLessThan(1e-10);
    expect(erlangC(1000, 999.9)).toBeGreaterThan(0.9);
    expect(Number.isFinite(erlangB(1000, 950))).toBe(true);
  });

  it('never rises with more servers', () => {
    for (const a of [0.5, 3, 10, 42.5, 300]) {
      let prev = 1;
      for (let c = 1; c <= Math.ceil(a) + 60; c++) {
        const p = erlangC(c, a);
        expect(p).toBeLessThanOrEqual(prev + 1e-15);
        prev = p;
      }
    }
  });

  it('is 1 when unstable or without servers, 0 without load', () => {
    expect(erlangC(0, 0)).toBe(1);
    expect(erlangC(5, 5)).toBe(1);
    expect(erlangC(5, 7)).toBe(1);
    expect(erlangC(5, 0)).toBe(0);
  });
});

describe('slots_needed_for_target', () => {
  it('is the least c reaching the level: c − 1 misses it', () => {
    for (const [perHour, h] of [
      [40, 540],
      [120, 300],
      [1, 600],
      [3000, 900],
    ] as const) {
      const c = slotsNeededForTarget(perHour, h, 60, 0.8);
      const at = forecast({ arrivalsPerHour: perHour, handleTimeS: h, servers: c, targetAnswerS: 60, targetLevel: 0.8 });
      expect(at.overloaded).toBe(false);
      expect(at.service_level!).toBeGreaterThanOrEqual(0.8 - 1e-4); // rounded to 4 significant digits
      const below = forecast({ arrivalsPerHour: perHour, handleTimeS: h, servers: c - 1, targetAnswerS: 60, targetLevel: 0.8 });
      expect(below.overloaded || below.service_level! < 0.8).toBe(true);
    }
  });

  it('is 0 when nothing arrives, and grows with the level asked', () => {
    expect(slotsNeededForTarget(0, 600, 60, 0.8)).toBe(0);
    expect(slotsNeededForTarget(40, 540, 60, 0.95)).toBeGreaterThanOrEqual(slotsNeededForTarget(40, 540, 60, 0.8));
  });
});

describe('forecast', () => {
  it('computes the spec example (A = 6 Erlangs on 18 slots)', () => {
    const f = forecast({ arrivalsPerHour: 40, handleTimeS: 540, servers: 18, targetAnswerS: 60, targetLevel: 0.8 });
    expect(f.offered_load_erlangs).toBe(6);
    expect(f.overloaded).toBe(false);
    expect(f.p_wait).toBe(significant(erlangC(18, 6)));
    expect(f.p_wait).toBeLessThan(0.001);
    expect(f.service_level).toBeGreaterThan(0.999);
    expect(f.slots_needed_for_target).toBe(slotsNeededForTarget(40, 540, 60, 0.8));
  });

  it('calls out overload with p_wait 1 and no wait or service level', () => {
    const f = forecast({ arrivalsPerHour: 120, handleTimeS: 600, servers: 10, targetAnswerS: 60, targetLevel: 0.8 });
    expect(f).toMatchObject({ offered_load_erlangs: 20, overloaded: true, p_wait: 1, expected_wait_s: null, service_level: null });
    expect(f.slots_needed_for_target).toBeGreaterThan(20);
    expect(forecast({ arrivalsPerHour: 10, handleTimeS: 600, servers: 0, targetAnswerS: 60, targetLevel: 0.8 }).overloaded).toBe(true);
  });

  it('rounds seconds to one decimal and probabilities to four significant digits', () => {
    const f = forecast({ arrivalsPerHour: (10 * 3600) / 600, handleTimeS: 600, servers: 11, targetAnswerS: 60, targetLevel: 0.8 });
    expect(f.p_wait).toBe(0.6821);
    expect(f.expected_wait_s! * 10).toBe(Math.round(f.expected_wait_s! * 10));
    expect(String(f.service_level).replace(/^0\.0*/, '').length).toBeLessThanOrEqual(4);
  });
});

describe('Erlang C on broken data', () => {
  it('a billion servers cost about as many steps as the load, not the servers', () => {
    expect(erlangB(1e9, 5)).toBe(0);
    expect(erlangC(1e9, 5)).toBe(0);
  });

  it('a load past MAX_LOAD_ERLANGS is not computed: overloaded, and the slots needed are only bounded below', () => {
    const f = forecast({ arrivalsPerHour: 3600, handleTimeS: 2e6, servers: 1e7, targetAnswerS: 60, targetLevel: 0.8 });
    expect(f).toMatchObject({ overloaded: true, p_wait: 1, expected_wait_s: null, service_level: null });
    expect(f.slots_needed_for_target).toBeGreaterThan(MAX_LOAD_ERLANGS);
  });
});
