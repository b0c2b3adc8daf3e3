import { JwksOptionsError } from '../errors/jwks.errors.js';
import { CLIENT_CREDENTIALS_DEFAULTS } from '../jwks-auth.constants.js';
import type { OtelApiModule, OtelAttributes, PromClientModule, PromMetric } from '../metrics/metrics.dependencies.js';
import { METRICS_DEFAULTS } from '../jwks-auth.constants.js';
import type { PromRegistryLike } from '../metrics/metrics.options.js';
import type { ClientCredentialsEventListener } from './client-credentials.events.js';

/** Result of a `getToken` against the cache: `stale` is a token within its margin served because the endpoint failed or throttles. */
export type ClientTokenCacheResult = 'hit' | 'miss' | 'stale';

/**
 * The client-credentials metrics: requests to the token endpoint and throttles come from the
 * events (`listener`); cache lookups are counted by the service directly (they are per call).
 */
export interface ClientTokenMetrics {
  readonly listener: ClientCredentialsEventListener;
  cache(result: ClientTokenCacheResult): void;
}

type Child = ReturnType<PromMetric['labels']>;

/**
 * The metrics on a prom-client registry: `jwks_auth_client_token_requests_total{audience,outcome}`,
 * `jwks_auth_client_token_cache_total{result}`, `jwks_auth_client_token_throttled_total{audience,source}`.
 * Labels are audiences and fixed words; audiences beyond the first `maxMetricAudiences` seen are
 * labelled `other`, so callers that choose an audience per call (one per tenant) cannot grow the series without bound.
 * Two services on one registry share the metrics.
 */
export function prometheusClientTokenMetrics(prom: PromClientModule, registry: PromRegistryLike): ClientTokenMetrics {
  const metric = (name: string, help: string, labelNames: string[]): PromMetric => {
    const existing = registry.getSingleMetric(name) as PromMetric | undefined;
    if (existing !== undefined) {
      if (!OURS.has(existing)) throw new JwksOptionsError([`metrics: the registry already holds a metric named ${name} that nestjs-jwks-auth did not register`]);
      return existing;
    }
    const created = new prom.Counter({ name, help, labelNames, registers: [registry] });
    OURS.add(created);
    return created;
  };
  const requests = metric('jwks_auth_client_token_requests_total', 'Requests to the OAuth token endpoint (client credentials), by audience and outcome (ok or the error kind)', ['audience', 'outcome']);
  const cache = metric('jwks_auth_client_token_cache_total', 'Client-credentials getToken calls, by result (hit, miss, stale)', ['result']);
  const throttled = metric('jwks_auth_client_token_throttled_total', 'Times the token endpoint may not be asked for a while, by audience and what said so (retry-after, x-ratelimit-reset, auth0-client-quota-limit, backoff, client-error)', ['audience', 'source']);
  // Per-call counters resolved once: a cached getToken costs one increment, no label hashing.
  const cacheChildren: Record<string, Child> = { hit: cache.labels('hit'), miss: cache.labels('miss'), stale: cache.labels('stale') };
  const audienceLabel = cappedAudiences();
  return {
    listener: (e) => {
      if (e.type === 'client-token-requested') requests.labels(audienceLabel(e.audience), e.outcome).inc();
      else if (e.type === 'client-token-throttled') throttled.labels(audienceLabel(e.audience), e.source).inc();
    },
    cache: (result) => cacheChildren[result].inc(),
  };
}

/**
 * The same counts through `@opentelemetry/api`'s global meter (the JWKS module's meter), named by
 * OpenTelemetry's conventions: `jwks_auth.client_token.requests`, `jwks_auth.client_token.cache.lookups`,
 * `jwks_auth.client_token.throttles`, with the Prometheus label names as attributes. A no-op
 * unless the app registered a meter provider before the module started.
 */
export function otelClientTokenMetrics(api: OtelApiModule): ClientTokenMetrics {
  const meter = api.metrics.getMeter(METRICS_DEFAULTS.otelMeterName);
  const requests = meter.createCounter('jwks_auth.client_token.requests', { description: 'Requests to the OAuth token endpoint (client credentials), by audience and outcome', unit: '{request}' });
  const lookups = meter.createCounter('jwks_auth.client_token.cache.lookups', { description: 'Client-credentials getToken calls, by result (hit, miss, stale)', unit: '{call}' });
  const throttles = meter.createCounter('jwks_auth.client_token.throttles', { description: 'Times the token endpoint may not be asked for a while, by audience and source', unit: '{throttle}' });
  // Per-call attributes built once: a cached getToken allocates nothing.
  const results: Record<ClientTokenCacheResult, OtelAttributes> = { hit: Object.freeze({ result: 'hit' }), miss: Object.freeze({ result: 'miss' }), stale: Object.freeze({ result: 'stale' }) };
  const audienceLabel = cappedAudiences();
  return {
    listener: (e) => {
      if (e.type === 'client-token-requested') requests.add(1, { audience: audienceLabel(e.audience), outcome: e.outcome });
      else if (e.type === 'client-token-throttled') throttles.add(1, { audience: audienceLabel(e.audience), source: e.source });
    },
    cache: (result) => lookups.add(1, results[result]),
  };
}

/** Several sinks as one (Prometheus and OpenTelemetry both). */
export function combinedClientTokenMetrics(sinks: readonly ClientTokenMetrics[]): ClientTokenMetrics | null {
  if (sinks.length === 0) return null;
  if (sinks.length === 1) return sinks[0];
  return {
    listener: (e) => {
      for (const s of sinks) s.listener(e);
    },
    cache: (result) => {
      for (const s of sinks) s.cache(result);
    },
  };
}

/** The audience label: the first `maxMetricAudiences` audiences as they are, every later one `other`. */
function cappedAudiences(): (audience: string) => string {
  const audiences = new Set<string>();
  return (audience) => {
    if (audiences.has(audience)) return audience;
    if (audiences.size >= CLIENT_CREDENTIALS_DEFAULTS.maxMetricAudiences) return OTHER;
    audiences.add(audience);
    return audience;
  };
}

const OURS = new WeakSet<object>();
/** The audience label of every audience past the cap. */
const OTHER = 'other';
