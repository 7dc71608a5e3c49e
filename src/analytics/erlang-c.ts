/**
 * The Erlang C queueing model of analytics.md ("forecast"), pure and without Node built-ins: the server computes
 * `/P/metrics` with it and the dashboard's staffing what-if runs the same module in the browser.
 *
 * Every chat slot is a server: `c` servers, offered load `A = λ·h` Erlangs (λ arrivals per second, h the mean
 * handle time). Computed through the Erlang B recurrence B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)), which never
 * forms A^c or c! (both overflow a double long before c = 1000), then C = c·B / (c − A·(1 − B)).
 */

/**
 * The largest offered load (Erlangs) the model is computed for: the recurrence costs one step per server, and a
 * load beyond this only comes from broken data (a handle time of years); above it the forecast says overloaded.
 */
export const MAX_LOAD_ERLANGS = 1_000_000;

/**
 * Erlang B blocking probability for `c` servers and load `a`, by the stable recurrence. Past `a` servers B falls
 * faster than geometrically: once it underflows to 0 it stays 0, so a huge `c` costs about `a` steps, not `c`.
 */
export function erlangB(c: number, a: number): number {
  let b = 1;
  for (let k = 1; k <= c; k++) {
    b = (a * b) / (k + a * b);
    if (b === 0) return 0;
  }
  return b;
}

/** C(c, A): the probability that an arrival waits; 1 when the queue is unstable (A ≥ c) or there is no server. */
export function erlangC(c: number, a: number): number {
  if (c <= 0 || a >= c) return 1;
  if (a <= 0) return 0;
  return fromB(c, a, erlangB(c, a));
}

function fromB(c: number, a: number, b: number): number {
  return (c * b) / (c - a * (1 - b));
}

export interface ForecastInput {
  /** λ, as arrivals per hour. */
  arrivalsPerHour: number;
  /** h: the mean handle time in seconds (> 0). */
  handleTimeS: number;
  /** c: chat slots available. */
  servers: number;
  /** t of the service level: answered within this many seconds. */
  targetAnswerS: number;
  /** The service level to reach (0..1). */
  targetLevel: number;
}

export interface Forecast {
  offered_load_erlangs: number;
  servers: number;
  p_wait: number;
  expected_wait_s: number | null;
  service_level: number | null;
  slots_needed_for_target: number;
  overloaded: boolean;
}

/** The share of arrivals answered within `t` seconds: 1 − C·e^{−(cμ − λ)t}. */
function serviceLevel(pWait: number, c: number, mu: number, lambda: number, t: number): number {
  return 1 - pWait * Math.exp(-(c * mu - lambda) * t);
}

/**
 * The least number of servers whose service level reaches `level` within `t` (0 when nothing arrives). Walks c
 * up from the first stable value carrying B(c) along, so the search costs O(answer), not O(answer²).
 */
export function slotsNeededForTarget(arrivalsPerHour: number, handleTimeS: number, t: number, level: number): number {
  const lambda = arrivalsPerHour / 3600;
  if (lambda <= 0) return 0;
  const mu = 1 / handleTimeS;
  const a = lambda * handleTimeS;
  if (a > MAX_LOAD_ERLANGS) return Math.floor(a) + 1; // not computed: see MAX_LOAD_ERLANGS
  let c = Math.floor(a) + 1; // the first c with A < c
  let b = erlangB(c, a);
  for (;;) {
    if (serviceLevel(fromB(c, a, b), c, mu, lambda, t) >= level) return c;
    c += 1;
    b = (a * b) / (c + a * b);
  }
}

/** The forecast object of analytics.md, rounded as it says (seconds to 0.1, probabilities to 4 significant digits). */
export function forecast(input: ForecastInput): Forecast {
  const lambda = input.arrivalsPerHour / 3600;
  const h = input.handleTimeS;
  const mu = 1 / h;
  const a = lambda * h;
  const c = input.servers;
  const needed = slotsNeededForTarget(input.arrivalsPerHour, h, input.targetAnswerS, input.targetLevel);
  const base = { offered_load_erlangs: roundTo(a, 4), servers: c, slots_needed_for_target: needed };
  if (c <= 0 || a >= c || a > MAX_LOAD_ERLANGS) return { ...base, p_wait: 1, expected_wait_s: null, service_level: null, overloaded: true };
  const pWait = erlangC(c, a);
  return {
    ...base,
    p_wait: significant(pWait),
    expected_wait_s: roundSeconds(pWait / (c * mu - lambda)),
    service_level: significant(serviceLevel(pWait, c, mu, lambda, input.targetAnswerS)),
    overloaded: false,
  };
}

/** Seconds to one decimal. */
export function roundSeconds(s: number): number {
  return Math.round(s * 10) / 10;
}

/** A probability to four significant digits. */
export function significant(p: number): number {
  return p === 0 ? 0 : Number(p.toPrecision(4));
}

function roundTo(x: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}
