import { metrics } from '@opentelemetry/api';
import { Test } from '@nestjs/testing';
import { ClientCredentialsModule, ClientCredentialsService } from '../../../lib';
import { TestIssuer } from '../../../lib/testing';
import { RecordingMeterProvider } from '../../fixtures/otel-recorder';
import { API, CLIENT_ID, CLIENT_SECRET } from './fixtures';

describe('ClientCredentialsModule metrics: { otel: true } through the global meter provider', () => {
  const provider = new RecordingMeterProvider();
  let issuer: TestIssuer;

  beforeAll(async () => {
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    issuer = await TestIssuer.start();
    issuer.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  });
  afterAll(async () => {
    await issuer.close();
    metrics.disable();
  });

  it('counts token requests, cache lookups and throttles on the nestjs-jwks-auth meter, never a token or secret', async () => {
    const ref = await Test.createTestingModule({
      imports: [ClientCredentialsModule.forRoot({ tokenEndpoint: issuer.tokenEndpoint, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, audience: API, metrics: { otel: true }, logging: false })],
    }).compile();
    try {
      const tokens = ref.get(ClientCredentialsService);
      await tokens.getToken();
      await tokens.getToken();
      issuer.setTokenFault({ status: 429, headers: { 'retry-after': '60' }, body: { error: 'too_many_requests' } });
      await tokens.getToken({ audience: API, scope: 'read:users' }).catch(() => undefined);
      expect(provider.meters).toContain('nestjs-jwks-auth');
      expect(provider.sum('jwks_auth.client_token.requests', { audience: API, outcome: 'ok' })).toBe(1);
      expect(provider.sum('jwks_auth.client_token.requests', { audience: API, outcome: 'status' })).toBe(1);
      expect(provider.sum('jwks_auth.client_token.cache.lookups', { result: 'hit' })).toBe(1);
      expect(provider.sum('jwks_auth.client_token.cache.lookups', { result: 'miss' })).toBe(2);
      expect(provider.sum('jwks_auth.client_token.throttles', { audience: API, source: 'retry-after' })).toBe(1);
      const recorded = JSON.stringify(provider.points);
      expect(recorded).not.toContain(CLIENT_SECRET);
      for (const token of issuer.issuedTokens) expect(recorded).not.toContain(token);
    } finally {
      issuer.clearTokenFault();
      await ref.close();
    }
  });
});
