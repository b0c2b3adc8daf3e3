import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { systemClock } from '../cache/clock.js';
import { JwksAuthEvents } from '../events/event.stream.js';
import type { JwksAuthEvent } from '../events/jwks-auth.events.js';
import { loadOtelApi, loadPromClient } from '../metrics/metrics.dependencies.js';
import type { PromRegistryLike } from '../metrics/metrics.options.js';
import { clientCredentialsLogListener, type ClientCredentialsEventListener } from './client-credentials.events.js';
import {
  CLIENT_CREDENTIALS_MODULE_OPTIONS,
  ConfigurableClientCredentialsModule,
  type ClientCredentialsAsyncOptions,
  type ClientCredentialsForRootOptions,
} from './client-credentials.module-definition.js';
import { resolveClientCredentialsOptions, type ClientCredentialsOptions } from './client-credentials.options.js';
import { ClientCredentialsService } from './client-credentials.service.js';
import { combinedClientTokenMetrics, otelClientTokenMetrics, prometheusClientTokenMetrics, type ClientTokenMetrics } from './client-token.metrics.js';
import { MemoryClientTokenStore, type ClientTokenStore } from './client-token.store.js';
import { RedisClientTokenStore } from './redis-client-token.store.js';
import { isRedisClient, loadIoredis } from '../store/redis.connection.js';
import { EncryptedClientTokenStore } from './encrypted-token.store.js';

/** Builds the service from the options: its store (encrypted when asked), log, metrics and events. */
async function createService(raw: ClientCredentialsOptions, moduleRef: ModuleRef): Promise<ClientCredentialsService> {
  const { isGlobal: _ignored, ...options } = raw as ClientCredentialsOptions & { isGlobal?: boolean };
  const resolved = resolveClientCredentialsOptions(options);
  const clock = resolved.clock ?? systemClock;
  const logger = new Logger('ClientCredentials');
  let base: ClientTokenStore = resolved.store ?? new MemoryClientTokenStore(() => clock.now());
  if (resolved.fleet !== null) {
    // Loaded now, so a missing ioredis stops startup with the install hint, not the first getToken().
    if (!isRedisClient(resolved.fleet.redis)) await loadIoredis(undefined, 'ClientCredentialsModule fleet');
    base = new RedisClientTokenStore({ redis: resolved.fleet.redis, keyPrefix: resolved.fleet.keyPrefix, log: logger, now: () => clock.now() });
  }
  const store = resolved.encryptionKey === undefined ? base : new EncryptedClientTokenStore(base, resolved.encryptionKey, logger);
  const listeners: ClientCredentialsEventListener[] = [...resolved.listeners];
  if (resolved.logging) listeners.push(clientCredentialsLogListener(logger));
  // The JWKS module's event stream, when the app has one in reach: one stream for both.
  try {
    const events = moduleRef.get(JwksAuthEvents, { strict: false });
    listeners.push((e) => events.listener(e as JwksAuthEvent));
  } catch {
    // No JwksAuthModule in this app: the service's own listeners only.
  }
  const sinks: ClientTokenMetrics[] = [];
  if (resolved.metrics?.prometheus) {
    const prom = await loadPromClient();
    const registry = resolved.metrics.prometheus === 'default' ? (prom.register as PromRegistryLike) : resolved.metrics.prometheus;
    sinks.push(prometheusClientTokenMetrics(prom, registry));
  }
  if (resolved.metrics?.otel) sinks.push(otelClientTokenMetrics(await loadOtelApi()));
  const metrics = combinedClientTokenMetrics(sinks);
  const service = new ClientCredentialsService(resolved.service, { clock, store, listeners, metrics });
  // The Redis connections this module opened close with the app (a client passed in stays open).
  if (resolved.fleet !== null) service.onShutdown(() => store.close?.());
  return service;
}

/**
 * Outbound machine-to-machine tokens (OAuth 2.0 client credentials), cached, refreshed ahead,
 * and never requested in a storm. Inject `ClientCredentialsService`.
 *
 * ```ts
 * ClientCredentialsModule.forRoot({
 *   tokenEndpoint: 'https://YOUR_TENANT.auth0.com/oauth/token',
 *   clientId: process.env.M2M_CLIENT_ID,
 *   clientSecret: process.env.M2M_CLIENT_SECRET,
 *   audience: 'https://YOUR_TENANT.auth0.com/api/v2/',
 * })
 * ```
 */
@Module({
  providers: [
    {
      provide: ClientCredentialsService,
      useFactory: createService,
      inject: [CLIENT_CREDENTIALS_MODULE_OPTIONS, ModuleRef],
    },
  ],
  exports: [ClientCredentialsService],
})
export class ClientCredentialsModule extends ConfigurableClientCredentialsModule {
  static override forRoot(options: ClientCredentialsForRootOptions): DynamicModule {
    return super.forRoot(options);
  }

  static override forRootAsync(options: ClientCredentialsAsyncOptions): DynamicModule {
    return super.forRootAsync(options);
  }
}
