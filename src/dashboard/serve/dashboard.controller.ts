import { Controller, Get, Inject, Param, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../config/config.module';
import { ApiError } from '../../errors/api-error';
import { DashboardFile, DashboardFiles } from './dashboard-files';

/**
 * The page talks to the service only: scripts, styles and sockets from this origin, nothing inline, no frames.
 * `connect-src` names ws:/wss: because a `'self'` source does not cover WebSocket URLs in every browser.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** `GET /dashboard` (and `/dashboard/`): the page; `GET /dashboard/<file>`: its bundled scripts and styles. */
@Controller('dashboard')
export class DashboardController {
  constructor(
    private readonly files: DashboardFiles,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  page(@Req() req: Request, @Res() res: Response): void {
    this.requireTls(req);
    const index = this.files.indexHtml();
    if (index === null) throw new ApiError('unavailable', 'the dashboard is not built: run npm run build');
    send(res, index);
  }

  @Get(':file')
  asset(@Param('file') name: string, @Req() req: Request, @Res() res: Response): void {
    this.requireTls(req);
    const file = this.files.asset(name);
    if (file === null) throw new ApiError('not_found', 'no such dashboard file');
    send(res, file);
  }

  /** REQUIRE_TLS covers the page as it covers /v1: its socket would be refused over plain ws:// anyway. */
  private requireTls(req: Request): void {
    // req.secure follows TRUST_PROXY (bootstrap hands Express the same rule as the WebSocket side).
    if (this.config.requireTls && !req.secure) {
      throw new ApiError('tls_required', 'this service accepts TLS connections only: use https://');
    }
  }
}

function send(res: Response, file: DashboardFile): void {
  res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  // Hashed names never change content; the page itself names the current ones, so it is revalidated (ETag) each time.
  res.setHeader('Cache-Control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  res.type(file.contentType);
  // Express adds an ETag and answers 304 to a matching If-None-Match.
  res.send(file.body);
}
