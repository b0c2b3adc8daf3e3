import type { INestApplication } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { Registry } from 'prom-client';
import { JwksAuthModule, JwksCacheService, JwksOptionsError, JWKS_METRICS } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

/** One sample of the Prometheus text exposition: its value, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) found[pair[1]] = pair[2];
    if (Object.keys(found).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('metrics: { registry } in a real app, scraped from a real prom-client registry', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  const registry = new Registry();
  const scrape = (): Promise<string> => registry.metrics();
  const get = (token: string, status: number) => request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`).expect(status);

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { metrics: { registry }, verifiedTokenCache: true }))] });
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  it('counts the warm-up fetch with its trigger, outcome and duration, and reads the gauges at scrape time', async () => {
    const text = await scrape();
    const iss = issuer.issuer;
    expect(sample(text, 'jwks_auth_key_set_fetches_total', { issuer: iss, trigger: 'warm-up', outcome: 'ok' })).toBe(1);
    expect(sample(text, 'jwks_auth_key_set_fetch_duration_seconds_count', { issuer: iss })).toBe(1);
    expect(sample(text, 'jwks_auth_keys', { issuer: iss })).toBe(1);
    expect(sample(text, 'jwks_auth_key_set_stale', { issuer: iss })).toBe(0);
    expect(sample(text, 'jwks_auth_next_fetch_allowed_seconds', { issuer: iss })).toBe(0);
    const age = sample(text, 'jwks_auth_key_set_age_seconds', { issuer: iss }) as number;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(30);
  });

  it('counts accepted tokens, refusals by reason, and verified-token cache hits and misses', async () => {
    const iss = issuer.issuer;
    const token = issuer.sign({ sub: 'alice' });
    await get(token, 200);
    await get(token, 200); // a cache hit
    await get(issuer.sign({ exp: Math.floor(Date.now() / 1000) - 60 }), 401);
    await get(issuer.sign({ iss: 'https://attacker.example/chosen-label' }), 401);
    const text = await scrape();
    expect(sample(text, 'jwks_auth_verifications_total', { issuer: iss, result: 'accepted', reason: '' })).toBe(2);
    expect(sample(text, 'jwks_auth_verifications_total', { issuer: iss, result: 'refused', reason: 'ERR_JWT_EXPIRED' })).toBe(1);
    // A token whose `iss` matches no configured issuer is counted under '': never its own `iss`.
    expect(sample(text, 'jwks_auth_verifications_total', { issuer: '', result: 'refused', reason: 'ERR_JWT_ISSUER' })).toBe(1);
    expect(text).not.toContain('attacker.example');
    expect(sample(text, 'jwks_auth_verified_token_cache_total', { result: 'hit' })).toBe(1);
    expect(sample(text, 'jwks_auth_verified_token_cache_total', { result: 'miss' })).toBe(3);
  });

  it('counts unknown kids by action (refetch, cooldown, backoff) and fetches by outcome (not-modified, the error kind)', async () => {
    const iss = issuer.issuer;
    const cache = app.get(JwksCacheService);
    const next = issuer.rotate();
    await get(issuer.sign(), 200); // new kid: refetch, found
    const hidden = issuer.addKey({ publish: false });
    await get(issuer.sign({}, { kid: hidden }), 401); // inside the cooldown
    await cache.refresh(); // unchanged: 304
    issuer.setFault({ status: 503 });
    await cache.refresh({ force: true }); // fails: backing off
    issuer.clearFault();
    await get(issuer.sign({}, { kid: hidden }), 401); // backing off
    const text = await scrape();
    expect(sample(text, 'jwks_auth_unknown_kids_total', { issuer: iss, action: 'refetch' })).toBe(1);
    expect(sample(text, 'jwks_auth_unknown_kids_total', { issuer: iss, action: 'cooldown' })).toBe(1);
    expect(sample(text, 'jwks_auth_unknown_kids_total', { issuer: iss, action: 'backoff' })).toBe(1);
    expect(sample(text, 'jwks_auth_key_set_fetches_total', { issuer: iss, trigger: 'unknown-kid', outcome: 'ok' })).toBe(1);
    expect(sample(text, 'jwks_auth_key_set_fetches_total', { issuer: iss, trigger: 'manual', outcome: 'not-modified' })).toBe(1);
    expect(sample(text, 'jwks_auth_key_set_fetches_total', { issuer: iss, trigger: 'manual', outcome: 'status' })).toBe(1);
    expect(sample(text, 'jwks_auth_key_set_fetch_duration_seconds_count', { issuer: iss })).toBe(4);
    expect(sample(text, 'jwks_auth_keys', { issuer: iss })).toBe(2);
    // The backoff after the failure shows as the wait before the next allowed fetch.
    expect(sample(text, 'jwks_auth_next_fetch_allowed_seconds', { issuer: iss })).toBeGreaterThan(0);
    // The kid is never a label, nor the subject.
    expect(text).not.toContain(next);
    expect(text).not.toContain(hidden);
    expect(text).not.toContain('alice');
  });

  it('marks the set stale once invalidated, and drops its gauges when the app closes', async () => {
    const iss = issuer.issuer;
    app.get(JwksCacheService).invalidate();
    expect(sample(await scrape(), 'jwks_auth_key_set_stale', { issuer: iss })).toBe(1);
    expect(app.get(JWKS_METRICS)).not.toBeNull();
  });
});

describe('the shipped alert rules and dashboard', () => {
  it('name only metrics and labels the module registers', async () => {
    const registry = new Registry();
    const issuer = await TestIssuer.start();
    const app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { metrics: { registry } }))] });
    try {
      const registered = new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, m]));
      const labels = new Set(['issuer', 'result', 'reason', 'trigger', 'outcome', 'action', 'le']);
      for (const file of ['ops/prometheus-alerts.yml', 'ops/grafana-dashboard.json']) {
        const text = readFileSync(file, 'utf8');
        const names = [...text.matchAll(/jwks_auth_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ''));
        expect(names.length).toBeGreaterThan(5);
        for (const name of names) expect([file, registered.has(name)]).toEqual([file, true]);
        for (const m of text.matchAll(/\b(?:by|on) \(([a-z_, ]+)\)|\{([a-z_]+)=/g)) {
          for (const label of (m[1] ?? m[2]).split(/,\s*/)) expect([file, label, labels.has(label)]).toEqual([file, label, true]);
        }
      }
      expect(JSON.parse(readFileSync('ops/grafana-dashboard.json', 'utf8')).panels.length).toBeGreaterThan(5);
    } finally {
      await app.close();
      await issuer.close();
    }
  });
});

describe('metrics across modules and apps on one registry', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(() => issuer.close());

  it('a second app on the same registry reuses the metrics (no duplicate-name error); a closed app leaves the gauges', async () => {
    const registry = new Registry();
    const first = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { metrics: { registry } }))] });
    const second = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { metrics: { registry } }))] });
    await request(second.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
    await request(first.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
    let text = await registry.metrics();
    expect(sample(text, 'jwks_auth_verifications_total', { issuer: issuer.issuer, result: 'accepted', reason: '' })).toBe(2);
    // Counted after the first scrape, published by the next one (and by an app's close).
    await request(first.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
    text = await registry.metrics();
    expect(sample(text, 'jwks_auth_verifications_total', { issuer: issuer.issuer, result: 'accepted', reason: '' })).toBe(3);
    expect(sample(text, 'jwks_auth_key_set_fetches_total', { issuer: issuer.issuer, trigger: 'warm-up', outcome: 'ok' })).toBe(2);
    await request(second.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
    await first.close();
    await second.close();
    text = await registry.metrics();
    expect(sample(text, 'jwks_auth_keys', { issuer: issuer.issuer })).toBeUndefined();
    // Counters never go down: the closed apps' counts stay, the last one (unscraped) published at close.
    expect(sample(text, 'jwks_auth_verifications_total', { issuer: issuer.issuer, result: 'accepted', reason: '' })).toBe(4);
  });

  it('refuses to start on a registry where another library holds one of its names', async () => {
    const registry = new Registry();
    const { Counter } = await import('prom-client');
    new Counter({ name: 'jwks_auth_keys', help: 'not ours', registers: [registry] });
    const started = bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { metrics: { registry } }))] });
    await expect(started).rejects.toBeInstanceOf(JwksOptionsError);
    await expect(started).rejects.toThrow(/already holds a metric named jwks_auth_keys that nestjs-jwks-auth did not register/);
  });

  it('metrics: true registers on prom-client\'s default registry', async () => {
    const { register } = await import('prom-client');
    const app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { metrics: true }))] });
    try {
      await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
      expect(sample(await register.metrics(), 'jwks_auth_verifications_total', { issuer: issuer.issuer, result: 'accepted', reason: '' })).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('without the option nothing is registered and JWKS_METRICS is null', async () => {
    const { register } = await import('prom-client');
    register.clear();
    const app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] });
    try {
      await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
      expect(app.get(JWKS_METRICS)).toBeNull();
      expect(await register.metrics()).not.toContain('jwks_auth');
    } finally {
      await app.close();
    }
  });
});
