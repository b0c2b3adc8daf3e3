import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { JwksAuthModule } from 'nestjs-jwks-auth';
import { ChatGateway } from './chat.gateway.js';
import { HealthController } from './health.controller.js';
import { OrdersMessages } from './orders.messages.js';
import { PassportProfileController } from './passport-profile.controller.js';
import { ProfileController } from './profile.controller.js';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    TerminusModule,
    JwksAuthModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        issuer: config.getOrThrow<string>('JWKS_ISSUER'),
        jwksUri: config.getOrThrow<string>('JWKS_URI'),
        audience: config.getOrThrow<string>('JWKS_AUDIENCE'),
        // Fleet mode when REDIS_URL is set: the app's instances share one key set (needs ioredis).
        ...(config.get<string>('REDIS_URL') ? { fleet: { redis: config.getOrThrow<string>('REDIS_URL') } } : {}),
      }),
    }),
  ],
  controllers: [ProfileController, PassportProfileController, HealthController, OrdersMessages],
  providers: [ChatGateway],
})
export class AppModule {}
