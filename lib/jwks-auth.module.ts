import { Logger, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { APP_GUARD, ModulesContainer } from '@nestjs/core';
import { JWKS_CLOCK, JWKS_EVENT_LISTENERS, JWKS_FETCHER, JWKS_METRICS, JWKS_RESOLVED_OPTIONS, JWKS_STORE } from './jwks-auth.constants.js';
import { JwksMetrics } from './metrics/jwks.metrics.js';
import { loggingListener, type JwksAuthEventListener } from './events/jwks-auth.events.js';
import { JwksAuthEvents } from './events/event.stream.js';
import { defaultKeySetStore } from './store/default-key-set.store.js';
import { loadIoredis } from './store/redis-key-set.store.js';
import {
  ConfigurableJwksAuthModule,
  JWKS_AUTH_MODULE_OPTIONS,
  type JwksAuthModuleAsyncOptions,
  type JwksAuthModuleForRootOptions,
} from './jwks-auth.module-definition.js';
import type { JwksAuthModuleOptions, ResolvedJwksOptions } from './interfaces/jwks-auth-options.interface.js';
import { resolveJwksOptions } from './options/options.validator.js';
import { systemClock, type Clock } from './cache/clock.js';
import { JwksCacheService } from './services/jwks-cache.service.js';
import { httpJwksFetcher } from './fetch/jwks.fetcher.js';
import { JwtVerifier } from './verify/jwt.verifier.js';
import { createJwksStrategy, JwksStrategy } from './passport/jwks.strategy.js';
import { JwksAuthGuard } from './guards/jwks-auth.guard.js';
import { JwksHealthIndicator } from './health/jwks.health.js';
import { JwksWsHandshake } from './transports/ws.handshake.js';
import { guardGateways } from './transports/gateway.guards.js';
import { JwksWebhook } from './webhook/webhook.listener.js';

const providers: Provider[] = [
  {
    provide: JWKS_RESOLVED_OPTIONS,
    // Validated once, at startup: a misconfiguration stops the app with every mistake listed.
    useFactory: (options: JwksAuthModuleOptions) => resolveJwksOptions(options),
    inject: [JWKS_AUTH_MODULE_OPTIONS],
  },
  { provide: JWKS_CLOCK, useValue: systemClock },
  { provide: JWKS_FETCHER, useValue: httpJwksFetcher },
  {
    provide: JWKS_STORE,
    // `fleet` → Redis (or the fleet's own store), `cache.snapshotPath` → the snapshot file, else
    // memory; override the token for another store. ioredis is loaded here, so a fleet without it
    // stops startup with the install hint rather than running degraded for ever.
    useFactory: async (options: ResolvedJwksOptions) => {
      if (options.fleet?.kind === 'redis') await loadIoredis();
      return defaultKeySetStore(options, new Logger('JwksAuth'));
    },
    inject: [JWKS_RESOLVED_OPTIONS],
  },
  JwksAuthEvents,
  {
    provide: JWKS_METRICS,
    // Built at startup, so an enabled `metrics` without its package stops the app with the install hint.
    useFactory: (options: ResolvedJwksOptions): Promise<JwksMetrics> | null => (options.metrics ? JwksMetrics.create(options.metrics) : null),
    inject: [JWKS_RESOLVED_OPTIONS],
  },
  // The log lines (rate-limited on the module's clock), the public stream and, with `metrics`, the
  // metrics' counts; provide a list under this token to add listeners (keep these for the logs,
  // `JwksAuthEvents` and the metrics).
  {
    provide: JWKS_EVENT_LISTENERS,
    useFactory: (clock: Clock, events: JwksAuthEvents, metrics: JwksMetrics | null) => [
      loggingListener(new Logger('JwksAuth'), { clock }),
      events.listener,
      ...(metrics === null ? [] : [metrics.listener]),
    ],
    inject: [JWKS_CLOCK, JwksAuthEvents, JWKS_METRICS],
  },
  JwksCacheService,
  {
    provide: JwtVerifier,
    // The verifier routes on the registry itself (issuer → key set): no delegation layer on the per-request path.
    useFactory: (options: ResolvedJwksOptions, cache: JwksCacheService, clock: Clock, listeners: readonly JwksAuthEventListener[], metrics: JwksMetrics | null) => {
      // Gauges are read from the states when scraped; nothing is counted per request for them.
      metrics?.watch({ states: () => cache.getStates(), now: () => clock.now() });
      return new JwtVerifier(options, cache.registry, clock, listeners, metrics);
    },
    inject: [JWKS_RESOLVED_OPTIONS, JwksCacheService, JWKS_CLOCK, JWKS_EVENT_LISTENERS, JWKS_METRICS],
  },
  {
    provide: JwksStrategy,
    // Registered with Passport under the module's `strategyName`, so two modules never share one.
    useFactory: (options: ResolvedJwksOptions, verifier: JwtVerifier) => createJwksStrategy(options, verifier),
    inject: [JWKS_RESOLVED_OPTIONS, JwtVerifier],
  },
  JwksAuthGuard,
  JwksHealthIndicator,
  // For gateways (`afterInit: handshake.attach(server)`); loads @nestjs/websockets only when installed.
  JwksWsHandshake,
  // The rotation webhook: always registered (forRootAsync's options are known only at runtime); idle without `webhook`.
  JwksWebhook,
];

const exported = [JWKS_RESOLVED_OPTIONS, JWKS_CLOCK, JWKS_STORE, JWKS_EVENT_LISTENERS, JWKS_METRICS, JwksAuthEvents, JwksCacheService, JwtVerifier, JwksStrategy, JwksAuthGuard, JwksHealthIndicator, JwksWsHandshake];

/**
 * `APP_GUARD` for `globalGuard: true`. With `forRootAsync` the options are only known at runtime,
 * so the provider is always registered and lets everything through when the flag is off.
 */
const globalGuardProvider: Provider = {
  provide: APP_GUARD,
  useFactory: (options: ResolvedJwksOptions, guard: JwksAuthGuard, verifier: JwtVerifier, modules: ModulesContainer) => {
    if (!options.globalGuard) return { canActivate: () => true };
    guard.releaseGateways = guardGateways(modules, guard, verifier);
    return guard;
  },
  inject: [JWKS_RESOLVED_OPTIONS, JwksAuthGuard, JwtVerifier, ModulesContainer],
};

/**
 * Verifies bearer JWTs against an issuer's JWKS.
 *
 * ```ts
 * JwksAuthModule.forRoot({ issuer: 'https://tenant.auth0.com/', jwksUri: 'https://tenant.auth0.com/.well-known/jwks.json', audience: 'https://api' })
 * ```
 */
@Module({ providers, exports: exported })
export class JwksAuthModule extends ConfigurableJwksAuthModule {
  static override forRoot(options: JwksAuthModuleForRootOptions): DynamicModule {
    const module = super.forRoot(options);
    return options.globalGuard ? withGlobalGuard(module) : module;
  }

  static override forRootAsync(options: JwksAuthModuleAsyncOptions): DynamicModule {
    return withGlobalGuard(super.forRootAsync(options));
  }
}

function withGlobalGuard(module: DynamicModule): DynamicModule {
  return { ...module, providers: [...(module.providers ?? []), globalGuardProvider] };
}
