import { Registry } from 'prom-client';
import { JwksMissingDependencyError, JwksOptionsError } from '../../lib/errors/jwks.errors';
import { resolveJwksOptions } from '../../lib/options/options.validator';
import { loadOtelApi, loadPromClient } from '../../lib/metrics/metrics.dependencies';
import { JwksMetrics } from '../../lib/metrics/jwks.metrics';

const base = { issuer: 'https://idp.example/', jwksUri: 'https://idp.example/jwks', audience: 'api' };

function problems(metrics: unknown): string[] {
  try {
    resolveJwksOptions({ ...base, metrics } as never);
  } catch (err) {
    if (err instanceof JwksOptionsError) return err.problems;
    throw err;
  }
  return [];
}

describe('the metrics option', () => {
  it('is off unless set; true is the default registry; { registry } is that registry; { otel: true } is OTel', () => {
    const registry = new Registry();
    expect(resolveJwksOptions(base).metrics).toBeNull();
    expect(resolveJwksOptions({ ...base, metrics: false }).metrics).toBeNull();
    expect(resolveJwksOptions({ ...base, metrics: true }).metrics).toEqual({ prometheus: 'default', otel: false });
    expect(resolveJwksOptions({ ...base, metrics: { registry } }).metrics?.prometheus).toBe(registry);
    expect(resolveJwksOptions({ ...base, metrics: { otel: true } }).metrics).toEqual({ prometheus: null, otel: true });
    expect(resolveJwksOptions({ ...base, metrics: { registry, otel: true } }).metrics).toEqual({ prometheus: registry, otel: true });
  });

  it('refuses every malformed value with a message naming what it takes', () => {
    expect(problems('yes')).toEqual(['metrics must be true, { registry: a prom-client Registry }, { otel: true } or { registry, otel: true }, got "yes"']);
    expect(problems(1)[0]).toMatch(/^metrics must be true, \{ registry/);
    expect(problems([])[0]).toMatch(/^metrics must be true, \{ registry/);
    expect(problems({})).toEqual(['metrics must name where to record: true, { registry: a prom-client Registry }, { otel: true } or { registry, otel: true } (leave it out for no metrics)']);
    expect(problems({ otel: false })[0]).toMatch(/^metrics must name where to record/);
    expect(problems({ otel: 'yes' })).toContain('metrics.otel must be a boolean, got "yes"');
    expect(problems({ registry: {} })[0]).toBe('metrics.registry must be a prom-client Registry (registerMetric, getSingleMetric, metrics), got {}');
    expect(problems({ registry: new Registry(), registy: 1 })[0]).toMatch(/metrics\.registy/);
  });
});

describe('metrics without their optional packages', () => {
  it('names prom-client and the install command', async () => {
    const failing = loadPromClient(() => Promise.reject(new Error('Cannot find package prom-client')));
    await expect(failing).rejects.toBeInstanceOf(JwksMissingDependencyError);
    await expect(failing).rejects.toMatchObject({ code: 'ERR_JWKS_MISSING_DEPENDENCY', message: 'The metrics option needs the optional package "prom-client": npm install prom-client' });
  });

  it('names @opentelemetry/api and the install command', async () => {
    const failing = loadOtelApi(() => Promise.reject(new Error('Cannot find package @opentelemetry/api')));
    await expect(failing).rejects.toMatchObject({ code: 'ERR_JWKS_MISSING_DEPENDENCY', message: 'The metrics.otel option needs the optional package "@opentelemetry/api": npm install @opentelemetry/api' });
  });

  it('stops the module\'s metrics from being built (startup fails rather than running without them)', async () => {
    const missing = () => Promise.reject(new JwksMissingDependencyError('prom-client', 'The metrics option'));
    await expect(JwksMetrics.create({ prometheus: 'default', otel: false }, { promClient: missing })).rejects.toBeInstanceOf(JwksMissingDependencyError);
  });

  it('loads the installed packages (both as an ES module namespace and as its default export)', async () => {
    const prom = await loadPromClient();
    expect(typeof prom.Counter).toBe('function');
    const viaDefault = await loadPromClient(async () => ({ default: await import('prom-client') }));
    expect(viaDefault.Counter).toBe(prom.Counter);
    expect(typeof (await loadOtelApi()).metrics.getMeter).toBe('function');
  });
});
