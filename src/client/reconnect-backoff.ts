/**
 * Exponential back-off with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the delay
 * before reconnect attempt n (1-based) is random() × min(maxDelayMs, initialDelayMs × factor^(n−1)). Full
 * jitter spreads a fleet of clients dropped at the same instant (a replica restarting) over the whole window
 * instead of bringing them back in waves. Pure; browser-safe.
 */

export interface ReconnectOptions {
  /** Cap of the first attempt's delay (default 500 ms). */
  initialDelayMs?: number;
  /** The largest cap (default 30 000 ms). */
  maxDelayMs?: number;
  /** Growth of the cap per attempt (default 2). */
  factor?: number;
  /**
   * A fixed schedule instead of the jittered one: the delay before attempt n (1-based). For tests and for
   * tools that must mimic another client; a fleet of clients should keep the jitter.
   */
  delayMs?: (attempt: number) => number;
}

export const DEFAULT_RECONNECT = { initialDelayMs: 500, maxDelayMs: 30_000, factor: 2 } as const;

export type ReconnectPolicy = Required<Omit<ReconnectOptions, 'delayMs'>> & Pick<ReconnectOptions, 'delayMs'>;

export function reconnectPolicy(opts: ReconnectOptions = {}): ReconnectPolicy {
  const policy = { ...DEFAULT_RECONNECT, ...definedOnly(opts) };
  const { initialDelayMs, maxDelayMs, factor } = policy;
  if (!(initialDelayMs >= 0) || !(maxDelayMs >= 0) || !(factor >= 1)) {
    throw new RangeError(
      `reconnect: initialDelayMs and maxDelayMs must be >= 0 and factor >= 1 (got ${initialDelayMs}, ${maxDelayMs}, ${factor})`,
    );
  }
  return policy;
}

/** The cap of attempt n (1-based): min(maxDelayMs, initialDelayMs × factor^(n−1)). */
export function backoffCapMs(attempt: number, p: ReconnectPolicy): number {
  const n = Math.max(1, Math.floor(attempt));
  // factor^(n−1) overflows to Infinity after a few hundred attempts; min() keeps the cap finite.
  return Math.min(p.maxDelayMs, p.initialDelayMs * p.factor ** (n - 1));
}

/** The delay before attempt n (1-based); `random` returns a number in [0, 1) like Math.random. */
export function backoffDelayMs(attempt: number, p: ReconnectPolicy, random: () => number = Math.random): number {
  if (p.delayMs) return Math.max(0, p.delayMs(attempt));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(r * backoffCapMs(attempt, p));
}

function definedOnly(o: ReconnectOptions): Partial<ReconnectOptions> {
  const out: Partial<ReconnectOptions> = {};
  for (const [k, v] of Object.entries(o) as Array<[keyof ReconnectOptions, unknown]>) if (v !== undefined) Object.assign(out, { [k]: v });
  return out;
}
