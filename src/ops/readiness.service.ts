import { Injectable } from '@nestjs/common';

/** One thing readiness depends on (the engine, the bus, the stream consumer, not draining). */
export interface ReadinessCheck {
  readonly name: string;
  ready(): boolean;
}

/** DI token for the list of readiness checks the composition root assembles. */
export const READINESS_CHECKS = Symbol('READINESS_CHECKS');

/** Aggregates readiness for `/readyz` and for the ingest transports (503 while the engine is away). */
@Injectable()
export class ReadinessService {
  private draining = false;

  constructor(private readonly checks: ReadinessCheck[]) {}

  /** Each check by name, plus `draining`. */
  report(): { ready: boolean; checks: Record<string, boolean> } {
    const checks: Record<string, boolean> = {};
    for (const c of this.checks) checks[c.name] = c.ready();
    checks.not_draining = !this.draining;
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  /** True when the named check passes (unknown names pass: that part is not configured). */
  isReady(name: string): boolean {
    const c = this.checks.find((x) => x.name === name);
    return c ? c.ready() : true;
  }

  startDraining(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }
}
