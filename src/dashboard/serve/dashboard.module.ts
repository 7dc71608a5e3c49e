import { Module } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../config/config.module';
import { DashboardController } from './dashboard.controller';
import { dashboardPublicDir, DashboardFiles } from './dashboard-files';

/** Serves the web dashboard (docs/dashboard.md) built by `npm run build`; the page uses the public API only. */
@Module({
  controllers: [DashboardController],
  providers: [
    {
      provide: DashboardFiles,
      useFactory: (config: AppConfig) => new DashboardFiles(dashboardPublicDir(), config.wsPath),
      inject: [APP_CONFIG],
    },
  ],
})
export class DashboardModule {}
