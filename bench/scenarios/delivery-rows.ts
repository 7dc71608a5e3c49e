import { Measurement } from '../lib/measure';
import { fromFirst, Row, rowOf, ScenarioOutcome } from '../lib/report';

/** Rows every delivery scenario prints, read from the first measurement of each target. */
const first = fromFirst<Measurement>;

export function latencyRows(outcome: ScenarioOutcome): Row[] {
  return [
    rowOf(
      outcome,
      'latency p50 (ms, per frame)',
      2,
      first((x) => x.generator.latency.p50),
    ),
    rowOf(
      outcome,
      'latency p99 (ms, per frame)',
      2,
      first((x) => x.generator.latency.p99),
    ),
    rowOf(
      outcome,
      'latency max (ms)',
      2,
      first((x) => x.generator.latency.max),
    ),
  ];
}

export function integrityRows(outcome: ScenarioOutcome): Row[] {
  return [
    rowOf(
      outcome,
      'lost frames',
      0,
      first((x) => x.generator.lost),
      false,
    ),
    rowOf(
      outcome,
      'duplicate or unexpected frames',
      0,
      first((x) => x.generator.duplicates + x.generator.unexpected),
      false,
    ),
  ];
}
