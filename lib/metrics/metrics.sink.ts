import type { JwksCacheState } from '../cache/key-set.source.js';

/** Where scrape-time gauges read from: one module's issuers and its clock. */
export interface MetricsStateSource {
  states(): Record<string, JwksCacheState>;
  now(): number;
}

/**
 * One backend of the module's metrics (Prometheus or OpenTelemetry). Counters are fed by events
 * and the verifier's hook; gauges are read from the watched sources when scraped.
 */
export interface JwksMetricsSink {
  verification(issuer: string, result: 'accepted' | 'refused', reason: string): void;
  tokenCache(hit: boolean): void;
  fetch(issuer: string, trigger: string, outcome: string, seconds: number): void;
  unknownKid(issuer: string, action: string): void;
  /** Read gauges from `source` at each scrape, until the returned function is called. */
  watch(source: MetricsStateSource): () => void;
}

/** The gauges, as values of one issuer's state at a moment; null leaves the series out. */
export const GAUGES = {
  age(s: JwksCacheState): number | null {
    return s.ageMs === null ? null : s.ageMs / 1000;
  },
  keys(s: JwksCacheState): number | null {
    return s.keyCount;
  },
  /** 1 unless the held set is fresh: stale, expired, empty, or to be revalidated after `invalidate()`. */
  stale(s: JwksCacheState): number | null {
    return s.fresh ? 0 : 1;
  },
  nextFetchAllowed(s: JwksCacheState, now: number): number | null {
    return s.nextAttemptAt === null ? 0 : Math.max(0, s.nextAttemptAt - now) / 1000;
  },
} as const;
