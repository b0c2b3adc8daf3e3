import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { JwksAuthModule } from 'nestjs-jwks-auth';
import { ProfileController } from './profile.controller';
import { PassportProfileController } from './passport-profile.controller';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    JwksAuthModule.forRootAsync({
      isGlobal: true,
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
  controllers: [ProfileController, PassportProfileController],
})
export class AppModule {}
