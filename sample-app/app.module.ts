import { Module } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule } from '@nestjs/graphql';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { JwksAuthGuard, JwksAuthModule, type JwksCacheOptions } from 'nestjs-jwks-auth';
import { AppController } from './app.controller';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { ProfileResolver } from './profile.resolver';

/** JWKS_CACHE as JSON; its members are then checked by the module like any option. */
function cacheOptions(json: string): JwksCacheOptions {
  try {
    return JSON.parse(json) as JwksCacheOptions;
  } catch {
    throw new Error('JWKS_CACHE must be the cache options as JSON, e.g. {"ttlMs":60000,"cooldownMs":10000}');
  }
}

/**
 * The whole integration: options from the environment (JWKS_ISSUER, JWKS_URI, JWKS_AUDIENCE;
 * REDIS_URL for fleet mode, JWKS_WEBHOOK_SECRET for the rotation webhook, JWKS_CACHE for cache
 * tuning as JSON), a guarded controller, the admin routes, Terminus health checks, Prometheus
 * metrics at /metrics and a guarded GraphQL resolver. `npm run drill` runs two of these.
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
          // JWKS_WEBHOOK_SECRET (32+ characters): signed rotation notices at POST /jwks-auth/webhook.
          ...(config.get<string>('JWKS_WEBHOOK_SECRET') ? { webhook: { secret: config.getOrThrow<string>('JWKS_WEBHOOK_SECRET') } } : {}),
          // JWKS_CACHE, e.g. {"ttlMs":60000}: the cache options; the module validates them like any others.
          ...(config.get<string>('JWKS_CACHE') ? { cache: cacheOptions(config.getOrThrow<string>('JWKS_CACHE')) } : {}),
          // The jwks_auth_* metrics on prom-client's default registry, served by MetricsController.
          metrics: true,
          // A repeated token skips the signature check (revocations still apply to it at once).
          verifiedTokenCache: true,
        };
      },
    }),
    // Code-first, the schema built in memory. Nest's default context `({ req }) => ({ req })` is
    // where the guard reads the token: a custom `context` must keep `req`.
    // Without NODE_ENV=production Apollo adds a stack trace to every error, refusals included.
    GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, includeStacktraceInErrorResponses: false }),
  ],
  controllers: [AppController, HealthController, MetricsController],
  providers: [ProfileResolver],
})
export class AppModule {}
