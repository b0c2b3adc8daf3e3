/**
 * What it shows: a token shaped as each identity provider issues it (claims as that IdP writes
 * them) verifies under the rules its preset builds, and a token that breaks one of those rules is
 * refused. The real hosts cannot be reached, so each issuer is a local TestIssuer that signs with
 * the preset's exact issuer string; only `jwksUri` is pointed at it.
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { auth0Issuer, cognitoIssuer, entraIssuers, JwksAuthModule, keycloakIssuer, oktaIssuer, type JwksIssuerOptions } from '../../lib';
import { TestIssuer } from '../../lib/testing';
import { bootApp } from '../fixtures/app';

const forRoot = JwksAuthModule.forRoot.bind(JwksAuthModule);

const TENANT_A = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const TENANT_B = 'fa15d692-e9c7-4460-a743-29f2956fd429';
const TENANT_OTHER = '0b4f3c2a-1d2e-4f50-8a6b-7c8d9e0f1a2b';
const ENTRA_API_CLIENT = '6e74172b-be56-4843-9ff4-e66a39bb12e3';
const ENTRA_API_URI = 'api://orders';
const COGNITO_POOL = 'eu-west-1_AbCdEf123';
const COGNITO_CLIENT = '3n4b5urk1ft4fl3mg5e62d9ado';

const started: TestIssuer[] = [];

/** A local issuer that signs with the preset's exact `iss`; the preset's rules kept, its keys served locally. */
async function local(preset: JwksIssuerOptions): Promise<{ idp: TestIssuer; options: JwksIssuerOptions }> {
  const idp = await TestIssuer.start({ issuer: preset.issuer });
  started.push(idp);
  return { idp, options: { ...preset, issuer: idp.issuer, jwksUri: idp.jwksUri } };
}

function get(app: INestApplication, token: string): request.Test {
  return request(app.getHttpServer()).get('/me').set('Authorization', `Bearer ${token}`);
}

describe('issuer presets, end to end (needs JwksAuthModule.forRoot({ issuers }))', () => {
  let app: INestApplication;
  let idApp: INestApplication;
  let auth0: TestIssuer;
  let okta: TestIssuer;
  let entra: Map<string, TestIssuer>;
  let entraOther: TestIssuer;
  let keycloak: TestIssuer;
  let cognito: TestIssuer;
  let cognitoForIdTokens: TestIssuer;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    const a0 = await local(auth0Issuer({ domain: 'acme.eu.auth0.com', audience: 'https://orders.example.com' }));
    const ok = await local(oktaIssuer({ domain: 'dev-123456.okta.com' }));
    const en = await Promise.all(
      entraIssuers({ tenants: [TENANT_A, TENANT_B], audience: [ENTRA_API_CLIENT, ENTRA_API_URI], versions: [1, 2] }).map(local),
    );
    const kc = await local(keycloakIssuer({ baseUrl: 'https://kc.example.com', realm: 'acme', audience: 'orders-api' }));
    const cg = await local(cognitoIssuer({ region: 'eu-west-1', userPoolId: COGNITO_POOL, clientId: COGNITO_CLIENT }));
    auth0 = a0.idp;
    okta = ok.idp;
    entra = new Map(en.map(({ idp }) => [idp.issuer, idp]));
    keycloak = kc.idp;
    cognito = cg.idp;
    // A tenant the allowlist leaves out: a real Entra tenant, with its own keys, whose tokens must not pass.
    entraOther = await TestIssuer.start({ issuer: `https://login.microsoftonline.com/${TENANT_OTHER}/v2.0` });
    started.push(entraOther);
    app = await bootApp({
      // entraIssuers() returns an array: `issuers` takes it nested, as it comes
      imports: [forRoot({ issuers: [a0.options, ok.options, en.map((e) => e.options), kc.options, cg.options] })],
    });

    // The same user pool, configured for ID tokens, in an app of its own (one pool, one issuer per app).
    const cgId = await local(cognitoIssuer({ userPoolId: COGNITO_POOL, clientId: COGNITO_CLIENT, tokenUse: 'id' }));
    cognitoForIdTokens = cgId.idp;
    idApp = await bootApp({ imports: [forRoot({ issuers: [cgId.options], strategyName: 'jwks-cognito-id' })] });
  });
  afterAll(async () => {
    await app?.close();
    await idApp?.close();
    await Promise.all(started.map((idp) => idp.close()));
  });

  describe('Auth0', () => {
    const claims = () => ({
      sub: 'auth0|64f1c0ffee0123456789abcd',
      aud: ['https://orders.example.com', 'https://acme.eu.auth0.com/userinfo'],
      azp: 'Xy12AbCdEfGhIjKlMnOpQrStUvWx',
      scope: 'openid profile read:orders',
      permissions: ['read:orders'],
    });

    it('accepts an access token for the API, issued at https://{domain}/', async () => {
      const res = await get(app, auth0.sign(claims())).expect(200);
      expect(res.body).toMatchObject({ iss: 'https://acme.eu.auth0.com/', sub: 'auth0|64f1c0ffee0123456789abcd' });
    });

    it('refuses a token for another API of the tenant', async () => {
      await get(app, auth0.sign({ ...claims(), aud: 'https://billing.example.com' })).expect(401);
    });
  });

  describe('Okta custom authorization server', () => {
    const claims = () => ({
      ver: 1,
      jti: 'AT.k9vq8ZbXl3o0Yj0L6lq9nA',
      aud: 'api://default',
      cid: '0oa1b2c3d4e5f6g7h8i9',
      uid: '00u1a2b3c4d5e6f7g8h9',
      scp: ['openid', 'orders.read'],
      sub: 'alice@example.com',
    });

    it('accepts an access token of the default server, audience api://default', async () => {
      const res = await get(app, okta.sign(claims())).expect(200);
      expect(res.body).toMatchObject({ iss: 'https://dev-123456.okta.com/oauth2/default', cid: '0oa1b2c3d4e5f6g7h8i9' });
    });

    it('refuses a token with another audience', async () => {
      await get(app, okta.sign({ ...claims(), aud: 'api://other' })).expect(401);
    });
  });

  describe('Microsoft Entra ID, multi-tenant, v1.0 and v2.0', () => {
    const v2 = (tid: string) => ({
      aud: ENTRA_API_CLIENT,
      tid,
      azp: 'c0ffee00-1234-4abc-9def-0123456789ab',
      azpacr: '0',
      scp: 'access_as_user',
      oid: '690222be-ff1a-4d56-abd1-7e4f7d38e474',
      preferred_username: 'abeli@example.com',
      ver: '2.0',
    });
    const v1 = (tid: string) => ({
      aud: ENTRA_API_URI,
      tid,
      appid: 'c0ffee00-1234-4abc-9def-0123456789ab',
      appidacr: '0',
      scp: 'user_impersonation',
      oid: '02223b6b-aa1d-42d4-9ec0-1b2bb9194438',
      unique_name: 'abeli@example.com',
      ver: '1.0',
    });
    const v2Issuer = (tid: string) => entra.get(`https://login.microsoftonline.com/${tid}/v2.0`)!;
    const v1Issuer = (tid: string) => entra.get(`https://sts.windows.net/${tid}/`)!;

    it('accepts v2.0 tokens of each allowed tenant (aud: the API client ID)', async () => {
      for (const tid of [TENANT_A, TENANT_B]) {
        const res = await get(app, v2Issuer(tid).sign(v2(tid))).expect(200);
        expect(res.body.iss).toBe(`https://login.microsoftonline.com/${tid}/v2.0`);
      }
    });

    it('accepts v1.0 tokens of each allowed tenant (iss on sts.windows.net, aud: the Application ID URI)', async () => {
      for (const tid of [TENANT_A, TENANT_B]) {
        const res = await get(app, v1Issuer(tid).sign(v1(tid))).expect(200);
        expect(res.body.iss).toBe(`https://sts.windows.net/${tid}/`);
      }
    });

    it('refuses a token from a tenant outside the allowlist', async () => {
      await get(app, entraOther.sign(v2(TENANT_OTHER))).expect(401);
    });

    it("refuses a token that names an allowed tenant's issuer but is signed with another tenant's key", async () => {
      await get(app, v2Issuer(TENANT_A).sign({ ...v2(TENANT_B), iss: `https://login.microsoftonline.com/${TENANT_B}/v2.0` })).expect(401);
    });

    it('refuses a token for another API', async () => {
      await get(app, v2Issuer(TENANT_A).sign({ ...v2(TENANT_A), aud: 'ffffffff-0000-4000-8000-000000000000' })).expect(401);
    });
  });

  describe('Keycloak', () => {
    const claims = () => ({
      aud: ['orders-api', 'account'],
      azp: 'web-app',
      typ: 'Bearer',
      sid: '3f6d1c9e-6a2b-4c1d-9e8f-7a6b5c4d3e2f',
      realm_access: { roles: ['offline_access', 'orders-reader'] },
      scope: 'openid profile email',
      preferred_username: 'alice',
    });

    it('accepts an access token of the realm whose aud carries the API (audience mapper)', async () => {
      const res = await get(app, keycloak.sign(claims())).expect(200);
      expect(res.body).toMatchObject({ iss: 'https://kc.example.com/realms/acme', azp: 'web-app' });
    });

    it('refuses the default token, whose aud is only "account"', async () => {
      await get(app, keycloak.sign({ ...claims(), aud: 'account' })).expect(401);
    });
  });

  describe('Amazon Cognito', () => {
    const access = (overrides: Record<string, unknown> = {}) => ({
      aud: undefined, // Cognito access tokens have none
      sub: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
      'cognito:groups': ['admins'],
      token_use: 'access',
      scope: 'aws.cognito.signin.user.admin',
      auth_time: now(),
      client_id: COGNITO_CLIENT,
      username: 'alice',
      jti: 'b1e2c3d4-0000-4000-8000-000000000001',
      origin_jti: 'b1e2c3d4-0000-4000-8000-000000000002',
      event_id: 'b1e2c3d4-0000-4000-8000-000000000003',
      ...overrides,
    });
    const id = (overrides: Record<string, unknown> = {}) => ({
      sub: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
      aud: COGNITO_CLIENT,
      token_use: 'id',
      auth_time: now(),
      'cognito:username': 'alice',
      email: 'alice@example.com',
      email_verified: true,
      ...overrides,
    });

    it('accepts an access token by its client_id, with no aud at all', async () => {
      const res = await get(app, cognito.sign(access())).expect(200);
      expect(res.body).toMatchObject({ iss: `https://cognito-idp.eu-west-1.amazonaws.com/${COGNITO_POOL}`, client_id: COGNITO_CLIENT });
      expect(res.body).not.toHaveProperty('aud');
    });

    it('refuses an access token of another app client', async () => {
      await get(app, cognito.sign(access({ client_id: 'someotherappclient00000000' }))).expect(401);
    });

    it('refuses an access token that names the client in aud but not in client_id', async () => {
      await get(app, cognito.sign(access({ client_id: undefined, aud: COGNITO_CLIENT }))).expect(401);
    });

    it('refuses an ID token of the same pool and client where access tokens are expected', async () => {
      await get(app, cognito.sign(id())).expect(401);
    });

    it('accepts an ID token by its aud where the preset asks for ID tokens', async () => {
      await get(idApp, cognitoForIdTokens.sign(id())).expect(200);
    });

    it('refuses an access token where ID tokens are expected, even one carrying aud', async () => {
      await get(idApp, cognitoForIdTokens.sign(access())).expect(401);
      await get(idApp, cognitoForIdTokens.sign(access({ aud: COGNITO_CLIENT }))).expect(401);
    });
    it('a one-issuer app takes the preset as it is, flat (client_id and token_use checked as with issuers)', async () => {
      const cg = await local(cognitoIssuer({ userPoolId: COGNITO_POOL, clientId: COGNITO_CLIENT }));
      const flat = await bootApp({ imports: [forRoot({ ...cg.options, strategyName: 'jwks-cognito-flat' })] });
      try {
        await get(flat, cg.idp.sign(access())).expect(200);
        await get(flat, cg.idp.sign(access({ client_id: 'someotherappclient00000000' }))).expect(401);
        await get(flat, cg.idp.sign(access({ token_use: 'id' }))).expect(401);
      } finally {
        await flat.close();
      }
    });
  });
});
