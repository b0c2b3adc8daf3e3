import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JWKS_EVENT_LISTENERS, JwksAuthModule, JwksCacheService, type JwksAuthEvent } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { Test } from '@nestjs/testing';
import { ProtectedController } from '../fixtures/protected.controller';
import { issuerOptions } from '../fixtures/app';

describe('JWKS_EVENT_LISTENERS in a real app', () => {
  let issuer: TestIssuer;
  let app: INestApplication;
  const events: JwksAuthEvent[] = [];

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    const moduleRef = await Test.createTestingModule({ controllers: [ProtectedController], imports: [JwksAuthModule.forRoot(issuerOptions(issuer))] })
      .overrideProvider(JWKS_EVENT_LISTENERS)
      .useValue([(e: JwksAuthEvent) => events.push(e)])
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  it('receives what the key set does: warm-up fetch, a rotation found by an unknown kid, a revocation', async () => {
    expect(events.find((e) => e.type === 'fetch-finished')).toMatchObject({ trigger: 'warm-up', outcome: 'ok' });
    const next = issuer.rotate();
    await request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${issuer.sign()}`).expect(200);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['unknown-kid', 'key-set-changed']));
    expect(events.find((e) => e.type === 'key-set-changed' && e.kidsAdded.includes(next))).toBeDefined();
    app.get(JwksCacheService).revokeKey(next);
    expect(events.at(-1)).toMatchObject({ type: 'key-revoked', kid: next });
  });

  it('receives one token-refused event per refusal, with its code and the issuer it was routed to, never the token\'s own iss', async () => {
    const before = events.length;
    const server = app.getHttpServer();
    await request(server).get('/me').set('Authorization', `Bearer ${issuer.sign({ exp: Math.floor(Date.now() / 1000) - 60 })}`).expect(401);
    const foreign = issuer.sign({ iss: 'https://attacker.example/chosen-label' });
    await request(server).get('/me').set('Authorization', `Bearer ${foreign}`).expect(401);
    const refused = events.slice(before).filter((e) => e.type === 'token-refused');
    expect(refused).toEqual([
      { type: 'token-refused', code: 'ERR_JWT_EXPIRED', issuer: issuer.issuer },
      { type: 'token-refused', code: 'ERR_JWT_ISSUER', issuer: '' },
    ]);
    expect(JSON.stringify(events)).not.toContain('attacker.example');
  });
});
