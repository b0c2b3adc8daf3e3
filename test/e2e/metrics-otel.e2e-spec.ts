import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { metrics } from '@opentelemetry/api';
import { RecordingMeterProvider } from '../fixtures/otel-recorder';
import { JwksAuthModule, JwksCacheService } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp, issuerOptions } from '../fixtures/app';

describe('metrics: { otel: true } through the global meter provider', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  const provider = new RecordingMeterProvider();

  beforeAll(async () => {
    // OTel's API has no proxy meter: the provider must be set before the module starts (as its docs say: SDK first).
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    issuer = await TestIssuer.start();
    app = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { metrics: { otel: true }, verifiedTokenCache: true }))] });
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
    metrics.disable();
  });

  it('records the same measurements under OTel names, with the Prometheus labels as attributes', async () => {
    const iss = issuer.issuer;
    const server = app.getHttpServer();
    const token = issuer.sign({ sub: 'alice' });
    await request(server).get('/me').set('Authorization', `Bearer ${token}`).expect(200);
    await request(server).get('/me').set('Authorization', `Bearer ${token}`).expect(200);
    await request(server).get('/me').set('Authorization', `Bearer ${issuer.sign({ exp: Math.floor(Date.now() / 1000) - 60 })}`).expect(401);
    issuer.rotate();
    await request(server).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);

    expect(provider.meters).toEqual(['nestjs-jwks-auth']);
    expect(provider.instruments.get('jwks_auth.key_set.fetch.duration')).toEqual({ kind: 'histogram', unit: 's' });
    expect(provider.sum('jwks_auth.verifications', { issuer: iss, result: 'accepted', reason: '' })).toBe(3);
    expect(provider.sum('jwks_auth.verifications', { issuer: iss, result: 'refused', reason: 'ERR_JWT_EXPIRED' })).toBe(1);
    expect(provider.sum('jwks_auth.verified_token_cache.lookups', { result: 'hit' })).toBe(1);
    expect(provider.sum('jwks_auth.verified_token_cache.lookups', { result: 'miss' })).toBe(3);
    expect(provider.sum('jwks_auth.key_set.fetches', { issuer: iss, trigger: 'warm-up', outcome: 'ok' })).toBe(1);
    expect(provider.sum('jwks_auth.key_set.fetches', { issuer: iss, trigger: 'unknown-kid', outcome: 'ok' })).toBe(1);
    expect(provider.sum('jwks_auth.unknown_kids', { issuer: iss, action: 'refetch' })).toBe(1);
    expect(provider.points.filter((p) => p.name === 'jwks_auth.key_set.fetch.duration')).toHaveLength(2);
    expect(provider.observe('jwks_auth.key_set.keys')).toEqual([{ value: 2, attributes: { issuer: iss } }]);
    expect(provider.observe('jwks_auth.key_set.stale')).toEqual([{ value: 0, attributes: { issuer: iss } }]);
    app.get(JwksCacheService).invalidate();
    expect(provider.observe('jwks_auth.key_set.stale')).toEqual([{ value: 1, attributes: { issuer: iss } }]);
  });

  it('stops observing a closed app\'s issuers', async () => {
    const other = await bootApp({ imports: [JwksAuthModule.forRoot(issuerOptions(issuer, { metrics: { otel: true } }))] });
    expect(provider.observe('jwks_auth.key_set.keys')).toHaveLength(2);
    await other.close();
    expect(provider.observe('jwks_auth.key_set.keys')).toHaveLength(1);
  });
});
