import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { APP_CONFIG } from '../config/config.module';
import { AppConfig } from '../config/app-config';
import { prepareVerificationKey } from './jwt-key';
import { TokenVerifier } from './token-verifier';

@Module({
  imports: [
    JwtModule.registerAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => {
        const { key, algorithms } = prepareVerificationKey(config.jwt);
        return {
          publicKey: key,
          verifyOptions: {
            algorithms,
            clockTolerance: config.jwt.clockSkewS,
            ...(config.jwt.audience ? { audience: config.jwt.audience } : {}),
            ...(config.jwt.issuer ? { issuer: config.jwt.issuer } : {}),
          },
        };
      },
    }),
  ],
  providers: [TokenVerifier],
  exports: [TokenVerifier],
})
export class AuthModule {}
