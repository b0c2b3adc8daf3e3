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
      }),
    }),
  ],
  controllers: [ProfileController, PassportProfileController],
})
export class AppModule {}
