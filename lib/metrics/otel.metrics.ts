import type { JwksCacheState } from '../cache/key-set.source.js';
import { METRICS_DEFAULTS } from '../jwks-auth.constants.js';
import type { OtelApiModule, OtelAttributes, OtelMeter, OtelObservableResult } from './metrics.dependencies.js';
import { GAUGES, type JwksMetricsSink, type MetricsStateSource } from './metrics.sink.js';

type Counter = ReturnType<OtelMeter['createCounter']>;
type Histogram = ReturnType<OtelMeter['createHistogram']>;
type Gauge = ReturnType<OtelMeter['createObservableGauge']>;

const HIT: OtelAttributes = Object.freeze({ result: 'hit' });
const MISS: OtelAttributes = Object.freeze({ result: 'miss' });

/**
 * The same measurements through `@opentelemetry/api`'s global meter, named by OpenTelemetry's
 * conventions (dotted, no unit or `_total` suffix in the name; the unit as the instrument's unit).
 * Attributes carry the same names and values as the Prometheus labels. A no-op unless the app
 * registered a meter provider before the module started (OTel's API has no proxy meter).
 */
export class OtelMetrics implements JwksMetricsSink {
  private readonly verifications: Counter;
  private readonly fetches: Counter;
  private readonly fetchDuration: Histogram;
  private readonly unknownKids: Counter;
  private readonly tokenCacheLookups: Counter;
  private readonly gauges: [Gauge, (s: JwksCacheState, now: number) => number | null][];
  /** Per-request attributes, built once per issuer: no object allocated per verification. */
  private readonly accepted = new Map<string, OtelAttributes>();

  constructor(api: OtelApiModule) {
    const meter = api.metrics.getMeter(METRICS_DEFAULTS.otelMeterName);
    this.verifications = meter.createCounter('jwks_auth.verifications', { description: 'Tokens verified, by issuer, result and refusal reason', unit: '{token}' });
    this.fetches = meter.createCounter('jwks_auth.key_set.fetches', { description: 'JWKS fetches, by issuer, trigger and outcome', unit: '{fetch}' });
    this.fetchDuration = meter.createHistogram('jwks_auth.key_set.fetch.duration', {
      description: 'Duration of JWKS fetches, by issuer',
      unit: 's',
      advice: { explicitBucketBoundaries: [...METRICS_DEFAULTS.fetchDurationBuckets] },
    });
    this.unknownKids = meter.createCounter('jwks_auth.unknown_kids', { description: 'Tokens naming a kid the held key set does not know, by issuer and action', unit: '{token}' });
    this.tokenCacheLookups = meter.createCounter('jwks_auth.verified_token_cache.lookups', { description: 'Lookups in the verified-token cache, by result (hit, miss)', unit: '{lookup}' });
    this.gauges = [
      [meter.createObservableGauge('jwks_auth.key_set.age', { description: 'Time since the held key set was fetched', unit: 's' }), GAUGES.age],
      [meter.createObservableGauge('jwks_auth.key_set.keys', { description: 'Usable keys in the held key set', unit: '{key}' }), GAUGES.keys],
      [meter.createObservableGauge('jwks_auth.key_set.stale', { description: '1 when the held key set is not fresh, else 0', unit: '1' }), GAUGES.stale],
      [meter.createObservableGauge('jwks_auth.key_set.next_fetch_allowed', { description: 'Time until a fetch is allowed again', unit: 's' }), GAUGES.nextFetchAllowed],
    ];
  }

  verification(issuer: string, result: 'accepted' | 'refused', reason: string): void {
    if (result === 'refused') {
      this.verifications.add(1, { issuer, result, reason });
      return;
    }
    let attributes = this.accepted.get(issuer);
    if (attributes === undefined) {
      attributes = Object.freeze({ issuer, result: 'accepted', reason: '' });
      this.accepted.set(issuer, attributes);
    }
    this.verifications.add(1, attributes);
  }

  tokenCache(hit: boolean): void {
    this.tokenCacheLookups.add(1, hit ? HIT : MISS);
  }

  fetch(issuer: string, trigger: string, outcome: string, seconds: number): void {
    this.fetches.add(1, { issuer, trigger, outcome });
    this.fetchDuration.record(seconds, { issuer });
  }

  unknownKid(issuer: string, action: string): void {
    this.unknownKids.add(1, { issuer, action });
  }

  watch(source: MetricsStateSource): () => void {
    const callbacks = this.gauges.map(([gauge, value]) => {
      const callback = (result: OtelObservableResult): void => {
        const now = source.now();
        const states = source.states();
        for (const issuer of Object.keys(states)) {
          const v = value(states[issuer], now);
          if (v !== null) result.observe(v, { issuer });
        }
      };
      gauge.addCallback(callback);
      return [gauge, callback] as const;
    });
    return () => {
      for (const [gauge, callback] of callbacks) gauge.removeCallback(callback);
    };
  }
}
