import type { JwksCacheState } from '../cache/key-set.source.js';
import { JwksOptionsError } from '../errors/jwks.errors.js';
import { METRICS_DEFAULTS } from '../jwks-auth.constants.js';
import type { PromClientModule, PromMetric } from './metrics.dependencies.js';
import type { PromRegistryLike } from './metrics.options.js';
import { GAUGES, type JwksMetricsSink, type MetricsStateSource } from './metrics.sink.js';

type Child = ReturnType<PromMetric['labels']>;

/** A per-request count kept as a plain number and added to its series when scraped. */
interface Tally {
  readonly child: Child;
  count: number;
  published: number;
}

/**
 * Metrics this package registered, with what their scrape reads (a gauge's state sources, a
 * counter's tallies). Two modules of one process on one registry share them (prom-client refuses
 * a second metric of the same name); a metric of the same name registered by anything else is an
 * error, not silently taken over.
 */
const OURS = new WeakMap<object, Set<MetricsStateSource> | Set<() => void>>();

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
  /**
   * Per-request counts as plain numbers, published when scraped: prom-client's `inc()` hashes its
   * labels on every call, which would double the cost of a verified-token cache hit.
   */
  private readonly acceptedByIssuer = new Map<string, Tally>();
  private readonly cacheHit: Tally;
  private readonly cacheMiss: Tally;
  private readonly publish = (): void => {
    for (const tally of this.acceptedByIssuer.values()) flush(tally);
    flush(this.cacheHit);
    flush(this.cacheMiss);
  };
  private readonly flushers: Set<() => void>[];

  constructor(
    private readonly prom: PromClientModule,
    private readonly registry: PromRegistryLike,
  ) {
    this.verifications = this.tallied( 'jwks_auth_verifications_total', 'Tokens verified, by issuer, result (accepted, refused) and refusal reason (the error code)', ['issuer', 'result', 'reason']);
    this.fetches = this.metric('Counter', 'jwks_auth_key_set_fetches_total', 'JWKS fetches, by issuer, trigger and outcome (ok, not-modified or the error kind)', ['issuer', 'trigger', 'outcome']);
    this.fetchDuration = this.metric('Histogram', 'jwks_auth_key_set_fetch_duration_seconds', 'Duration of JWKS fetches, by issuer', ['issuer'], { buckets: [...METRICS_DEFAULTS.fetchDurationBuckets] });
    this.unknownKids = this.metric('Counter', 'jwks_auth_unknown_kids_total', 'Tokens naming a kid the held key set does not know, by issuer and what was done (refetch, cooldown, backoff, busy, unavailable)', ['issuer', 'action']);
    this.tokenCacheLookups = this.tallied('jwks_auth_verified_token_cache_total', 'Lookups in the verified-token cache, by result (hit, miss)', ['result']);
    this.gaugeSources = [
      this.gauge('jwks_auth_key_set_age_seconds', 'Seconds since the held key set was fetched, by issuer', GAUGES.age),
      this.gauge('jwks_auth_keys', 'Usable keys in the held key set (revoked ones left out), by issuer', GAUGES.keys),
      this.gauge('jwks_auth_key_set_stale', '1 when the held key set is not fresh (stale, expired, empty or to be revalidated), else 0, by issuer', GAUGES.stale),
      this.gauge('jwks_auth_next_fetch_allowed_seconds', 'Seconds until a fetch is allowed again (Retry-After or backoff), 0 when it is, by issuer', GAUGES.nextFetchAllowed),
    ];
    this.cacheHit = { child: this.tokenCacheLookups.labels('hit'), count: 0, published: 0 };
    this.cacheMiss = { child: this.tokenCacheLookups.labels('miss'), count: 0, published: 0 };
    this.flushers = [this.verifications, this.tokenCacheLookups].map((m) => OURS.get(m) as Set<() => void>);
    for (const set of this.flushers) set.add(this.publish);
  }

  verification(issuer: string, result: 'accepted' | 'refused', reason: string): void {
    if (result === 'refused') {
      this.verifications.labels(issuer, result, reason).inc();
      return;
    }
    let tally = this.acceptedByIssuer.get(issuer);
    if (tally === undefined) {
      tally = { child: this.verifications.labels(issuer, 'accepted', ''), count: 0, published: 0 };
      this.acceptedByIssuer.set(issuer, tally);
    }
    tally.count++;
  }

  tokenCache(hit: boolean): void {
    (hit ? this.cacheHit : this.cacheMiss).count++;
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
      // A closed app's last counts stay in the counters (they never go down); its tallies go.
      this.publish();
      for (const set of this.flushers) set.delete(this.publish);
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
    OURS.set(metric, new Set<() => void>());
    return metric;
  }

  /** A counter some of whose counts are tallied per request and published when scraped. */
  private tallied(name: string, help: string, labelNames: string[]): PromMetric {
    const existing = this.registry.getSingleMetric(name) as PromMetric | undefined;
    if (existing !== undefined) return this.metric('Counter', name, help, labelNames);
    const flushers = new Set<() => void>();
    const metric = new this.prom.Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        for (const publish of flushers) publish();
      },
    });
    OURS.set(metric, flushers);
    return metric;
  }

  /** A gauge computed when scraped, from every watching module's states (not per request). */
  private gauge(name: string, help: string, value: (s: JwksCacheState, now: number) => number | null): Set<MetricsStateSource> {
    const existing = this.registry.getSingleMetric(name) as PromMetric | undefined;
    if (existing !== undefined) {
      const sources = OURS.get(existing) as Set<MetricsStateSource> | undefined;
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

function flush(tally: Tally): void {
  if (tally.count === tally.published) return;
  tally.child.inc(tally.count - tally.published);
  tally.published = tally.count;
}
