import { Module } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule } from '@nestjs/graphql';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { JwksAuthGuard, JwksAuthModule } from 'nestjs-jwks-auth';
import { AppController } from './app.controller';
import { HealthController } from './health.controller';
import { ProfileResolver } from './profile.resolver';

/**
 * The whole integration: options from the environment (JWKS_ISSUER, JWKS_URI, JWKS_AUDIENCE,
 * and REDIS_URL for fleet mode),
 * a guarded controller, an admin route, a Terminus health check and a guarded GraphQL resolver.
 */
@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    TerminusModule,
    JwksAuthModule.forRootAsync({
      // The built-in admin routes (state, refresh, revoke/:kid, restore/:kid) at /admin/jwks, for
      // tokens holding the jwks:admin scope (403 with insufficient_scope otherwise). Static, beside
      // useFactory: routes exist before the factory runs.
      admin: { guard: JwksAuthGuard, path: 'admin/jwks', scopes: ['jwks:admin'] },
      inject: [ConfigService],
      useFactory: (config: ConfigService) => {
        return {
          issuer: config.getOrThrow<string>('JWKS_ISSUER'),
          // Without JWKS_URI, the issuer's OIDC discovery document says where its keys are.
          jwksUri: config.get<string>('JWKS_URI'),
          audience: config.getOrThrow<string>('JWKS_AUDIENCE').split(','),
          algorithms: config.get<string>('JWKS_ALGORITHMS')?.split(','),
          // REDIS_URL (redis://…): fleet mode, every instance of this app shares one key set.
          ...(config.get<string>('REDIS_URL') ? { fleet: { redis: config.getOrThrow<string>('REDIS_URL') } } : {}),
        };
      },
    }),
    // Code-first, the schema built in memory. Nest's default context `({ req }) => ({ req })` is
    // where the guard reads the token: a custom `context` must keep `req`.
    // Without NODE_ENV=production Apollo adds a stack trace to every error, refusals included.
    GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, includeStacktraceInErrorResponses: false }),
  ],
  controllers: [AppController, HealthController],
  providers: [ProfileResolver],
})
export class AppModule {}
