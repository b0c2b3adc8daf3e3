import type { JwksAuthEventListener } from '../events/jwks-auth.events.js';
import type { VerificationObserver } from '../verify/jwt.verifier.js';
import { loadOtelApi, loadPromClient, type PromClientModule } from './metrics.dependencies.js';
import type { PromRegistryLike, ResolvedMetricsOptions } from './metrics.options.js';
import type { JwksMetricsSink, MetricsStateSource } from './metrics.sink.js';
import { OtelMetrics } from './otel.metrics.js';
import { PrometheusMetrics } from './prometheus.metrics.js';

/**
 * The module's metrics (`metrics` option): one or two sinks (Prometheus, OpenTelemetry) fed by the
 * key sets' events, the verifier's hook for accepted tokens and verified-token cache lookups, and
 * the module's states read at scrape time. Provided under `JWKS_METRICS` (null when off).
 */
export class JwksMetrics implements VerificationObserver {
  /** Counts refusals, fetches and unknown kids from the events (`JWKS_EVENT_LISTENERS`). */
  readonly listener: JwksAuthEventListener;
  private readonly unwatch: (() => void)[] = [];

  constructor(private readonly sinks: readonly JwksMetricsSink[]) {
    this.listener = (e) => {
      switch (e.type) {
        case 'token-refused':
          for (const s of this.sinks) s.verification(e.issuer, 'refused', e.code);
          return;
        case 'fetch-finished': {
          const outcome = e.outcome === 'failed' ? (e.error?.kind ?? 'error') : e.outcome;
          for (const s of this.sinks) s.fetch(e.issuer, e.trigger, outcome, e.durationMs / 1000);
          return;
        }
        case 'unknown-kid':
          for (const s of this.sinks) s.unknownKid(e.issuer, e.action);
          return;
        default:
          return;
      }
    };
  }

  /** Builds the sinks the options ask for, loading their optional packages. */
  static async create(options: ResolvedMetricsOptions, load: { promClient?: typeof loadPromClient; otelApi?: typeof loadOtelApi } = {}): Promise<JwksMetrics> {
    const sinks: JwksMetricsSink[] = [];
    if (options.prometheus !== null) {
      const prom: PromClientModule = await (load.promClient ?? loadPromClient)();
      const registry = options.prometheus === 'default' ? (prom.register as PromRegistryLike) : options.prometheus;
      sinks.push(new PrometheusMetrics(prom, registry));
    }
    if (options.otel) sinks.push(new OtelMetrics(await (load.otelApi ?? loadOtelApi)()));
    return new JwksMetrics(sinks);
  }

  accepted(issuer: string): void {
    for (const s of this.sinks) s.verification(issuer, 'accepted', '');
  }

  tokenCache(hit: boolean): void {
    for (const s of this.sinks) s.tokenCache(hit);
  }

  /** Gauges read this module's states at each scrape, until shutdown. */
  watch(source: MetricsStateSource): void {
    for (const s of this.sinks) this.unwatch.push(s.watch(source));
  }

  /** A closed app's issuers leave the gauges (another module on the registry keeps its own). */
  onApplicationShutdown(): void {
    for (const stop of this.unwatch.splice(0)) stop();
  }
}
