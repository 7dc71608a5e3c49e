import { Controller, Get, Headers, Param, Req, UseGuards } from '@nestjs/common';
import { SkipThrottle } from '@nestjs/throttler';
import type { Request } from 'express';
import { decideSubscribe } from '../access/subscribe-decision';
import { extractToken } from '../auth/principal';
import { TokenVerifier } from '../auth/token-verifier';
import { ApiError } from '../errors/api-error';
import { HttpThrottlerGuard, INGEST_THROTTLER } from '../limits/ingest-throttle';
import { ServiceMetrics } from '../ops/service-metrics';
import { ReadModel } from '../store/read-model';
import { MemberProjects, ProjectMetrics } from './metrics-shape';

/**
 * The HTTP side of the metrics (analytics.md) for tools that poll, and the project list a dashboard starts
 * from. Same JWT as the WebSocket (`Authorization: Bearer|JWT <jwt>`, or `?token=`), same rights as T8;
 * API_RATE_PER_S requests per second per token, counted by every replica together.
 */
@Controller('v1')
@UseGuards(HttpThrottlerGuard)
@SkipThrottle({ [INGEST_THROTTLER]: true })
export class MetricsController {
  constructor(
    private readonly store: ReadModel,
    private readonly tokens: TokenVerifier,
    private readonly serviceMetrics: ServiceMetrics,
  ) {}

  /** `GET /v1/projects/<P>/metrics`: the `/P/metrics` object; 403 `forbidden` for whoever may not subscribe to it. */
  @Get('projects/:projectId/metrics')
  async metrics(
    @Param('projectId') projectId: string,
    @Headers('authorization') authorization: string | undefined,
    @Req() req: Request,
  ): Promise<ProjectMetrics> {
    const userId = this.userOf(req.url, authorization);
    const topic = { kind: 'metrics', projectId } as const;
    const decision = decideSubscribe(topic, userId, await this.store.readForSubscribe(topic, userId));
    if (!decision.ok) throw new ApiError(decision.code === 'not_found' ? 'not_found' : 'forbidden', decision.message);
    return decision.snapshot as ProjectMetrics;
  }

  /** `GET /v1/me/projects`: the projects the token's user is an active member of, with the role. */
  @Get('me/projects')
  async myProjects(@Headers('authorization') authorization: string | undefined, @Req() req: Request): Promise<MemberProjects> {
    const userId = this.userOf(req.url, authorization);
    return { user_id: userId, projects: await this.store.memberProjects(userId) };
  }

  private userOf(url: string, authorization: string | undefined): string {
    const verified = this.tokens.verify(extractToken(url, authorization));
    if (!verified.ok) {
      this.serviceMetrics.authFailures.inc({ reason: verified.reason });
      throw new ApiError('unauthorized', verified.message, { reason: verified.reason });
    }
    return verified.principal.userId;
  }
}
