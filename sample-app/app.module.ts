import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { JwksAuthModule } from 'nestjs-jwks-auth';
import { AdminController } from './admin.controller';
import { AppController } from './app.controller';
import { HealthController } from './health.controller';

/**
 * The whole integration: options from the environment (JWKS_ISSUER, JWKS_URI, JWKS_AUDIENCE),
 * a guarded controller, an admin route and a Terminus health check.
 */
@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    TerminusModule,
    JwksAuthModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService) => {
        return {
          issuer: config.getOrThrow<string>('JWKS_ISSUER'),
          // Without JWKS_URI, the issuer's OIDC discovery document says where its keys are.
          jwksUri: config.get<string>('JWKS_URI'),
          audience: config.getOrThrow<string>('JWKS_AUDIENCE').split(','),
          algorithms: config.get<string>('JWKS_ALGORITHMS')?.split(','),
        };
      },
    }),
  ],
  controllers: [AppController, AdminController, HealthController],
})
export class AppModule {}
