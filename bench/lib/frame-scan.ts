/**
 * Finds the benchmark's fields in a frame without parsing it: every measured event carries
 * `"bench_id":<integer>` and `"bench_ts":<monotonic ms>` inside its document, and the load generator reads
 * them with `indexOf` and a digit loop, on the raw bytes for `ws` clients and on the text for Socket.IO
 * clients. A frame that lacks them (snapshot answers, heartbeats) reads as -1 / NaN.
 */
export const BENCH_ID = '"bench_id":';
export const BENCH_TS = '"bench_ts":';
const ID_BYTES = Buffer.from(BENCH_ID);
const TS_BYTES = Buffer.from(BENCH_TS);
const PING_BYTES = Buffer.from('"text":"ping"');

const ZERO = 48;
const NINE = 57;
const DOT = 46;
const MINUS = 45;

/** Reads a JSON number without exponent starting at `pos` (`charAt` is either a byte or a char code). */
function readNumber(length: number, pos: number, charAt: (i: number) => number): number {
  let i = pos;
  let sign = 1;
  if (i < length && charAt(i) === MINUS) {
    sign = -1;
    i++;
  }
  let value = 0;
  let digits = 0;
  while (i < length) {
    const c = charAt(i);
    if (c < ZERO || c > NINE) break;
    value = value * 10 + (c - ZERO);
    digits++;
    i++;
  }
  if (digits === 0) return NaN;
  if (i < length && charAt(i) === DOT) {
    i++;
    let scale = 0.1;
    while (i < length) {
      const c = charAt(i);
      if (c < ZERO || c > NINE) break;
      value += (c - ZERO) * scale;
      scale /= 10;
      i++;
    }
  }
  // An exponent would mean a value we never write: refuse rather than misread it.
  if (i < length && (charAt(i) === 101 || charAt(i) === 69)) return NaN;
  return sign * value;
}

export interface BenchFields {
  id: number;
  ts: number;
}

export function scanBytes(buf: Buffer, out: BenchFields): void {
  const at = buf.indexOf(ID_BYTES);
  if (at < 0) {
    out.id = -1;
    out.ts = NaN;
    return;
  }
  const charAt = (i: number) => buf[i]!;
  out.id = readNumber(buf.length, at + ID_BYTES.length, charAt);
  // The documents write the timestamp right after the id: search from there first.
  let ts = buf.indexOf(TS_BYTES, at);
  if (ts < 0) ts = buf.indexOf(TS_BYTES);
  out.ts = ts < 0 ? NaN : readNumber(buf.length, ts + TS_BYTES.length, charAt);
}

export function scanText(text: string, out: BenchFields): void {
  const at = text.indexOf(BENCH_ID);
  if (at < 0) {
    out.id = -1;
    out.ts = NaN;
    return;
  }
  const charAt = (i: number) => text.charCodeAt(i);
  out.id = readNumber(text.length, at + BENCH_ID.length, charAt);
  let ts = text.indexOf(BENCH_TS, at);
  if (ts < 0) ts = text.indexOf(BENCH_TS);
  out.ts = ts < 0 ? NaN : readNumber(text.length, ts + BENCH_TS.length, charAt);
}

/** Our service's heartbeat ping (a connection that never answers is closed after two sweeps). */
export function isPingBytes(buf: Buffer): boolean {
  return buf.length < 120 && buf.indexOf(PING_BYTES) >= 0;
}
