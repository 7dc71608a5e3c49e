/**
 * A latency histogram in the manner of HdrHistogram: values in whole microseconds, exact below 64 µs, then
 * 64 sub-buckets per power of two (about 1.6 % resolution) up to 2^31 µs. Recording is O(1) with no
 * allocation; histograms of several workers merge by adding counts, so percentiles are exact over the
 * whole population (to the bucket resolution), never an average of per-worker percentiles.
 */
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
const MAX_US = 2 ** 31 - 1;
const BUCKETS = (31 - SUB_BITS + 1) * SUB;

function bucketOf(us: number): number {
  if (us < SUB) return us;
  const exp = 31 - Math.clz32(us);
  return (exp - SUB_BITS + 1) * SUB + ((us >>> (exp - SUB_BITS)) - SUB);
}

/** The largest value a bucket holds (percentiles report it, so they never understate). */
function upperOf(bucket: number): number {
  if (bucket < SUB) return bucket;
  const exp = Math.floor(bucket / SUB) + SUB_BITS - 1;
  const sub = bucket % SUB;
  return (sub + SUB + 1) * 2 ** (exp - SUB_BITS) - 1;
}

/** What crosses process boundaries: sparse `[bucket, count]` pairs plus the exact extremes. */
export interface HistogramData {
  buckets: Array<[number, number]>;
  count: number;
  sumUs: number;
  maxUs: number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  private sumUs = 0;
  private maxUs = 0;

  recordMs(ms: number): void {
    let us = Math.round(ms * 1000);
    if (!(us > 0)) us = 0;
    if (us > MAX_US) us = MAX_US;
    this.counts[bucketOf(us)]! += 1;
    this.count += 1;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  toData(): HistogramData {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, count: this.count, sumUs: this.sumUs, maxUs: this.maxUs };
  }

  add(data: HistogramData): void {
    for (const [bucket, n] of data.buckets) this.counts[bucket]! += n;
    this.count += data.count;
    this.sumUs += data.sumUs;
    if (data.maxUs > this.maxUs) this.maxUs = data.maxUs;
  }

  /** The value (ms) at or below which a fraction `q` of the recorded values lie. */
  quantileMs(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperOf(i), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }

  summary(): LatencySummary {
    if (this.count === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
    return {
      count: this.count,
      p50: this.quantileMs(0.5),
      p99: this.quantileMs(0.99),
      max: this.maxUs / 1000,
      mean: this.sumUs / this.count / 1000,
    };
  }

  static summarize(valuesMs: Iterable<number>): LatencySummary {
    const h = new LatencyHistogram();
    for (const v of valuesMs) h.recordMs(v);
    return h.summary();
  }
}
