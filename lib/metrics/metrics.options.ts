import { describeValue, isPlainObject, unknownKeys } from '../options/option.checks.js';

/**
 * What prom-client's `Registry` must offer for the module to register on it: checked by shape so
 * a second copy of prom-client (another version in the app's tree) is accepted too.
 */
export interface PromRegistryLike {
  registerMetric(metric: unknown): void;
  getSingleMetric(name: string): unknown;
  metrics(): Promise<string>;
}

/**
 * The `metrics` option: off unless set.
 * - `true`: Prometheus metrics on prom-client's default registry (`register`).
 * - `{ registry }`: on that prom-client `Registry`.
 * - `{ otel: true }`: through `@opentelemetry/api`'s global meter (a no-op unless the app set up
 *   a meter provider); with `registry` too, both.
 * prom-client and `@opentelemetry/api` are optional peers, loaded at startup only when used.
 */
export type JwksMetricsOptions = boolean | { registry?: PromRegistryLike; otel?: boolean };

/** The `metrics` option after validation; null when off. */
export interface ResolvedMetricsOptions {
  /** Register on prom-client: `'default'` for its default registry, or the user's registry; null for none. */
  readonly prometheus: 'default' | PromRegistryLike | null;
  readonly otel: boolean;
}

const KNOWN = ['registry', 'otel'] as const;
const SHAPE = 'true, { registry: a prom-client Registry }, { otel: true } or { registry, otel: true }';

function isRegistry(value: unknown): value is PromRegistryLike {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<Record<keyof PromRegistryLike, unknown>>;
  return typeof r.registerMetric === 'function' && typeof r.getSingleMetric === 'function' && typeof r.metrics === 'function';
}

/** The `metrics` option: null when off. Every mistake goes into `problems`. */
export function metricsOption(problems: string[], value: unknown): ResolvedMetricsOptions | null {
  if (value === undefined || value === false) return null;
  if (value === true) return Object.freeze({ prometheus: 'default', otel: false });
  if (!isPlainObject(value)) {
    problems.push(`metrics must be ${SHAPE}, got ${describeValue(value)}`);
    return null;
  }
  unknownKeys(problems, 'metrics.', value, KNOWN);
  const { registry, otel } = value;
  let prometheus: ResolvedMetricsOptions['prometheus'] = null;
  if (registry !== undefined) {
    if (!isRegistry(registry)) problems.push(`metrics.registry must be a prom-client Registry (registerMetric, getSingleMetric, metrics), got ${describeValue(registry)}`);
    else prometheus = registry;
  }
  if (otel !== undefined && typeof otel !== 'boolean') problems.push(`metrics.otel must be a boolean, got ${describeValue(otel)}`);
  const withOtel = otel === true;
  // `{}` or `{ otel: false }` would enable nothing while looking like it enables something.
  if (registry === undefined && !withOtel) problems.push(`metrics must name where to record: ${SHAPE} (leave it out for no metrics)`);
  return prometheus === null && !withOtel ? null : Object.freeze({ prometheus, otel: withOtel });
}
