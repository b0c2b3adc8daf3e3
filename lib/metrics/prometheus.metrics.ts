import type { JwksCacheState } from '../cache/key-set.source.js';
import { JwksOptionsError } from '../errors/jwks.errors.js';
import { METRICS_DEFAULTS } from '../jwks-auth.constants.js';
import type { PromClientModule, PromMetric } from './metrics.dependencies.js';
import type { PromRegistryLike } from './metrics.options.js';
import { GAUGES, type JwksMetricsSink, type MetricsStateSource } from './metrics.sink.js';

type Child = ReturnType<PromMetric['labels']>;

/**
 * Metrics this package registered, with the sources their scrape reads. Two modules of one process
 * on one registry share them (prom-client refuses a second metric of the same name); a metric of
 * the same name registered by anything else is an error, not silently taken over.
 */
const OURS = new WeakMap<object, Set<MetricsStateSource>>();

/**
 * The module's metrics on a prom-client registry. Label values are the configured issuer (never a
 * token's own `iss`), fixed words and error codes: the series count is bounded by the config.
 */
export class PrometheusMetrics implements JwksMetricsSink {
  private readonly verifications: PromMetric;
  private readonly fetches: PromMetric;
  private readonly fetchDuration: PromMetric;
  private readonly unknownKids: PromMetric;
  private readonly tokenCacheLookups: PromMetric;
  private readonly gaugeSources: Set<MetricsStateSource>[];
  /** Per-request series, resolved once: `labels()` hashes its arguments on every call. */
  private readonly acceptedByIssuer = new Map<string, Child>();
  private readonly cacheHit: Child;
  private readonly cacheMiss: Child;

  constructor(
    private readonly prom: PromClientModule,
    private readonly registry: PromRegistryLike,
  ) {
    this.verifications = this.metric('Counter', 'jwks_auth_verifications_total', 'Tokens verified, by issuer, result (accepted, refused) and refusal reason (the error code)', ['issuer', 'result', 'reason']);
    this.fetches = this.metric('Counter', 'jwks_auth_key_set_fetches_total', 'JWKS fetches, by issuer, trigger and outcome (ok, not-modified or the error kind)', ['issuer', 'trigger', 'outcome']);
    this.fetchDuration = this.metric('Histogram', 'jwks_auth_key_set_fetch_duration_seconds', 'Duration of JWKS fetches, by issuer', ['issuer'], { buckets: [...METRICS_DEFAULTS.fetchDurationBuckets] });
    this.unknownKids = this.metric('Counter', 'jwks_auth_unknown_kids_total', 'Tokens naming a kid the held key set does not know, by issuer and what was done (refetch, cooldown, backoff, busy, unavailable)', ['issuer', 'action']);
    this.tokenCacheLookups = this.metric('Counter', 'jwks_auth_verified_token_cache_total', 'Lookups in the verified-token cache, by result (hit, miss)', ['result']);
    this.gaugeSources = [
      this.gauge('jwks_auth_key_set_age_seconds', 'Seconds since the held key set was fetched, by issuer', GAUGES.age),
      this.gauge('jwks_auth_keys', 'Usable keys in the held key set (revoked ones left out), by issuer', GAUGES.keys),
      this.gauge('jwks_auth_key_set_stale', '1 when the held key set is not fresh (stale, expired, empty or to be revalidated), else 0, by issuer', GAUGES.stale),
      this.gauge('jwks_auth_next_fetch_allowed_seconds', 'Seconds until a fetch is allowed again (Retry-After or backoff), 0 when it is, by issuer', GAUGES.nextFetchAllowed),
    ];
    this.cacheHit = this.tokenCacheLookups.labels('hit');
    this.cacheMiss = this.tokenCacheLookups.labels('miss');
  }

  verification(issuer: string, result: 'accepted' | 'refused', reason: string): void {
    if (result === 'refused') {
      this.verifications.labels(issuer, result, reason).inc();
      return;
    }
    let child = this.acceptedByIssuer.get(issuer);
    if (child === undefined) {
      child = this.verifications.labels(issuer, 'accepted', '');
      this.acceptedByIssuer.set(issuer, child);
    }
    child.inc();
  }

  tokenCache(hit: boolean): void {
    (hit ? this.cacheHit : this.cacheMiss).inc();
  }

  fetch(issuer: string, trigger: string, outcome: string, seconds: number): void {
    this.fetches.labels(issuer, trigger, outcome).inc();
    this.fetchDuration.labels(issuer).observe(seconds);
  }

  unknownKid(issuer: string, action: string): void {
    this.unknownKids.labels(issuer, action).inc();
  }

  watch(source: MetricsStateSource): () => void {
    for (const set of this.gaugeSources) set.add(source);
    return () => {
      for (const set of this.gaugeSources) set.delete(source);
    };
  }

  private metric(kind: 'Counter' | 'Histogram' | 'Gauge', name: string, help: string, labelNames: string[], extra: Record<string, unknown> = {}): PromMetric {
    const existing = this.registry.getSingleMetric(name) as PromMetric | undefined;
    if (existing !== undefined) {
      if (!OURS.has(existing)) {
        throw new JwksOptionsError([`metrics: the registry already holds a metric named ${name} that nestjs-jwks-auth did not register; use another registry (metrics: { registry })`]);
      }
      return existing;
    }
    const metric = new this.prom[kind]({ name, help, labelNames, registers: [this.registry], ...extra });
    OURS.set(metric, new Set());
    return metric;
  }

  /** A gauge computed when scraped, from every watching module's states (not per request). */
  private gauge(name: string, help: string, value: (s: JwksCacheState, now: number) => number | null): Set<MetricsStateSource> {
    const existing = this.registry.getSingleMetric(name) as PromMetric | undefined;
    if (existing !== undefined) {
      const sources = OURS.get(existing);
      if (sources === undefined) {
        throw new JwksOptionsError([`metrics: the registry already holds a metric named ${name} that nestjs-jwks-auth did not register; use another registry (metrics: { registry })`]);
      }
      return sources;
    }
    const sources = new Set<MetricsStateSource>();
    const metric = new this.prom.Gauge({
      name,
      help,
      labelNames: ['issuer'],
      registers: [this.registry],
      collect(this: PromMetric) {
        // Issuers removed since the last scrape disappear rather than keep their last value.
        this.reset();
        for (const source of sources) {
          const now = source.now();
          const states = source.states();
          for (const issuer of Object.keys(states)) {
            const v = value(states[issuer], now);
            if (v !== null) this.labels(issuer).set(v);
          }
        }
      },
    });
    OURS.set(metric, sources);
    return sources;
  }
}
