import { Controller, Get, HttpCode } from '@nestjs/common';
import { ApiError } from '../errors/api-error';
import { ReadinessService } from './readiness.service';

@Controller()
export class HealthController {
  constructor(private readonly readiness: ReadinessService) {}

  /** Liveness: the process is up and serving HTTP. */
  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: engine reachable, bus joined, ingest consumer running, not draining; 503 names what is not. */
  @Get('readyz')
  @HttpCode(200)
  readyz(): { status: 'ready'; checks: Record<string, boolean> } {
    const { ready, checks } = this.readiness.report();
    if (!ready) {
      const failing = Object.keys(checks).filter((k) => !checks[k]);
      throw new ApiError('unavailable', `not ready: ${failing.join(', ')}`, { checks });
    }
    return { status: 'ready', checks };
  }
}
