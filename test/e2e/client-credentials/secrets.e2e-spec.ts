import { generateKeyPairSync } from 'node:crypto';
import { Logger, type INestApplication, type LoggerService } from '@nestjs/common';
import { Registry } from 'prom-client';
import request from 'supertest';
import { ClientCredentialsModule, ClientCredentialsService, JwksAuthEvents, JwksAuthModule, type JwksAuthEvent } from '../../../lib';
import { clientCredentialsLogListener } from '../../../lib/client-credentials/client-credentials.events';
import { FakeClock, TestIssuer } from '../../../lib/testing';
import { bootApp, issuerOptions } from '../../fixtures/app';
import { API, CLIENT_ID, CLIENT_SECRET, serviceFor } from './fixtures';

/** Everything the library wrote or raised during a run, as one string to search. */
class Capture implements LoggerService {
  readonly lines: string[] = [];
  log = (m: unknown) => this.lines.push(String(m));
  error = (m: unknown, ...rest: unknown[]) => this.lines.push([m, ...rest].map(String).join(' '));
  warn = (m: unknown) => this.lines.push(String(m));
  debug = (m: unknown) => this.lines.push(String(m));
  verbose = (m: unknown) => this.lines.push(String(m));
  fatal = (m: unknown) => this.lines.push(String(m));
  add(value: unknown): void {
    if (value instanceof Error) this.lines.push(`${value.message}\n${value.stack ?? ''}\n${JSON.stringify(value)}\n${JSON.stringify({ ...value })}`);
    else this.lines.push(JSON.stringify(value));
  }
  async settle<T>(promise: Promise<T>): Promise<T | Error> {
    try {
      const value = await promise;
      return value;
    } catch (err) {
      this.add(err);
      return err as Error;
    }
  }
  text(): string {
    return this.lines.join('\n');
  }
}

describe('secrets, keys and tokens never leave the client-credentials module', () => {
  let issuer: TestIssuer;
  let clock: FakeClock;
  let capture: Capture;

  beforeEach(async () => {
    clock = new FakeClock(Date.now());
    issuer = await TestIssuer.start({ clock });
    issuer.addClient({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenLifetimeSeconds: 3600 });
    capture = new Capture();
    Logger.overrideLogger(capture);
  });
  afterEach(async () => {
    Logger.overrideLogger(false);
    await issuer.close();
  });

  it('client_secret_post through a Nest app: logs, events, errors and metrics hold no secret and no token, across failures', async () => {
    const registry = new Registry();
    const app: INestApplication = await bootApp(
      {
        imports: [
          JwksAuthModule.forRoot(issuerOptions(issuer, { audience: API })),
          ClientCredentialsModule.forRoot({ tokenEndpoint: issuer.tokenEndpoint, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, audience: API, clock, metrics: { registry } }),
        ],
      },
      { clock },
    );
    // bootApp silences Nest's logger: capture it again.
    Logger.overrideLogger(capture);
    const events: JwksAuthEvent[] = [];
    app.get(JwksAuthEvents).on('event', (e) => events.push(e));
    const service = app.get(ClientCredentialsService);
    try {
      // A token from the endpoint verifies with the JWKS module of the same issuer.
      const token = await service.getToken();
      await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`).expect(200);

      // An endpoint that echoes the secret in its error description.
      service.invalidate(token);
      issuer.queueTokenFaults({ status: 400, body: { error: 'invalid_request', error_description: `client_secret=${CLIENT_SECRET} was wrong` } });
      const echoed = await capture.settle(service.getToken({ audience: 'https://echo.example.test/' }));
      expect(echoed).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', kind: 'oauth-error', oauthError: 'invalid_request' });
      expect((echoed as Error).message).toContain('client_secret=*** was wrong');

      // Throttled, a garbage 200 that contains the secret, a server error, and a wrong secret.
      await clock.advance(60_000);
      issuer.queueTokenFaults({ status: 429, headers: { 'retry-after': '30' } });
      await capture.settle(service.getToken({ audience: 'https://other.example.test/' }));
      await capture.settle(service.getToken({ audience: 'https://other.example.test/' }));
      await clock.advance(31_000);
      issuer.queueTokenFaults({ status: 200, body: `{"access_token": "${CLIENT_SECRET}", "token_type": 42}` });
      await capture.settle(service.getToken({ audience: 'https://other.example.test/' }));
      await clock.advance(5_000);
      issuer.queueTokenFaults({ status: 503, body: CLIENT_SECRET });
      await capture.settle(service.getToken({ audience: 'https://other.example.test/' }));
      issuer.addClient({ clientId: CLIENT_ID, clientSecret: 'rotated-at-the-idp' });
      await clock.advance(120_000);
      await capture.settle(service.getToken({ audience: 'https://third.example.test/' }));

      const metrics = await registry.metrics();
      capture.add(events);
      capture.lines.push(metrics);
      expect(metrics).toMatch(/jwks_auth_client_token_requests_total\{audience="https:\/\/api.example.test\/",outcome="ok"\} 1/);
      expect(metrics).toMatch(/jwks_auth_client_token_throttled_total\{audience="https:\/\/other.example.test\/",source="retry-after"\} 1/);
      expect(metrics).toMatch(/jwks_auth_client_token_cache_total\{result="miss"\} \d+/);
      expect(events.some((e) => e.type === 'client-token-throttled')).toBe(true);
      expect(capture.lines.some((l) => l.includes('failed (invalid-client, HTTP 401)'))).toBe(true);
    } finally {
      await app.close();
    }
    const all = capture.text();
    expect(all.length).toBeGreaterThan(1000);
    expect(all).not.toContain(CLIENT_SECRET);
    expect(all).not.toContain(encodeURIComponent(CLIENT_SECRET));
    expect(issuer.issuedTokens.length).toBeGreaterThan(0);
    for (const t of issuer.issuedTokens) {
      expect(all).not.toContain(t);
      expect(all).not.toContain(t.split('.')[2]);
    }
  });

  it('private_key_jwt: no key material, assertion or token in logs, events or errors', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = pair.privateKey.export({ format: 'jwk' });
    const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    issuer.addClient({ clientId: 'jwt-client', publicKey: pair.publicKey });
    const { service, events } = serviceFor(issuer, clock, { clientId: 'jwt-client', clientSecret: undefined, privateKey: jwk, listeners: [] });
    service.addListener(clientCredentialsLogListener({ warn: (m) => capture.lines.push(m), log: (m) => capture.lines.push(m) }));
    try {
      await capture.settle(service.getToken());
      issuer.queueTokenFaults({ status: 401, body: { error: 'invalid_client', error_description: 'assertion rejected' } });
      await capture.settle(service.getToken({ audience: 'https://b.example.test/' }));
      await capture.settle(service.getToken({ audience: 'https://b.example.test/' }));
      issuer.queueTokenFaults({ reset: true });
      await capture.settle(service.getToken({ audience: 'https://c.example.test/' }));
    } finally {
      service.close();
    }
    capture.add(events);
    const all = capture.text();
    expect(all).toContain('invalid-client');
    expect(all).not.toContain(jwk.d as string);
    for (const line of pem.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) expect(all).not.toContain(line);
    expect(all).not.toMatch(/client_assertion=|eyJhbGciOiJFUzI1Ni/);
    for (const t of issuer.issuedTokens) expect(all).not.toContain(t);
  });
});
