import { JwksMissingDependencyError } from '../errors/jwks.errors.js';

/** The part of prom-client the module uses (its types stay out of our public declarations: it is optional). */
export interface PromClientModule {
  Counter: new (config: Record<string, unknown>) => PromMetric;
  Gauge: new (config: Record<string, unknown>) => PromMetric;
  Histogram: new (config: Record<string, unknown>) => PromMetric;
  register: unknown;
}

/** A prom-client metric, as the module drives it. */
export interface PromMetric {
  labels(...values: string[]): { inc(value?: number): void; set(value: number): void; observe(value: number): void };
  reset(): void;
}

/** The part of `@opentelemetry/api` the module uses. */
export interface OtelApiModule {
  metrics: { getMeter(name: string, version?: string): OtelMeter };
}

export type OtelAttributes = Record<string, string>;
export interface OtelObservableResult {
  observe(value: number, attributes?: OtelAttributes): void;
}
export interface OtelMeter {
  createCounter(name: string, options?: { description?: string; unit?: string }): { add(value: number, attributes?: OtelAttributes): void };
  createHistogram(name: string, options?: { description?: string; unit?: string; advice?: { explicitBucketBoundaries?: number[] } }): {
    record(value: number, attributes?: OtelAttributes): void;
  };
  createObservableGauge(name: string, options?: { description?: string; unit?: string }): {
    addCallback(callback: (result: OtelObservableResult) => void): void;
    removeCallback(callback: (result: OtelObservableResult) => void): void;
  };
}

type Loaded<T> = T & { default?: T };

/** prom-client is an optional peer dependency: loaded at startup when `metrics` asks for it, with an install hint. */
export async function loadPromClient(load: () => Promise<unknown> = () => import('prom-client')): Promise<PromClientModule> {
  let m: Loaded<PromClientModule>;
  try {
    m = (await load()) as Loaded<PromClientModule>;
  } catch {
    throw new JwksMissingDependencyError('prom-client', 'The metrics option');
  }
  return typeof m.Counter === 'function' ? m : (m.default as PromClientModule);
}

/** `@opentelemetry/api` is an optional peer dependency: loaded at startup when `metrics.otel` is set. */
export async function loadOtelApi(load: () => Promise<unknown> = () => import('@opentelemetry/api')): Promise<OtelApiModule> {
  let m: Loaded<OtelApiModule>;
  try {
    m = (await load()) as Loaded<OtelApiModule>;
  } catch {
    throw new JwksMissingDependencyError('@opentelemetry/api', 'The metrics.otel option');
  }
  return m.metrics !== undefined ? m : (m.default as OtelApiModule);
}
